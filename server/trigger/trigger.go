// Package trigger wakes a controller of the kite server when one of its
// informers sees a change: many changes in a row wake it once.
package trigger

import "k8s.io/client-go/tools/cache"

// Trigger holds at most one pending wake-up.
type Trigger chan struct{}

// New returns a Trigger with nothing pending.
func New() Trigger { return make(Trigger, 1) }

// Poke asks for a wake-up; it never blocks.
func (t Trigger) Poke() {
	select {
	case t <- struct{}{}:
	default:
	}
}

// On is an informer handler that pokes t on every add, update and delete.
func (t Trigger) On() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { t.Poke() },
		UpdateFunc: func(any, any) { t.Poke() },
		DeleteFunc: func(any) { t.Poke() },
	}
}

// OnChangeOf is On for objects of type T, except that an update pokes t
// only when what(old) differs from what(new): a controller reading a few
// fields of a Node is not woken by its status heartbeats (thousands of
// nodes send a few a second), so its cost follows the changes it reads.
func OnChangeOf[T any](t Trigger, what func(T) string) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { t.Poke() },
		UpdateFunc: func(oldObj, newObj any) {
			o, okOld := oldObj.(T)
			n, okNew := newObj.(T)
			if !okOld || !okNew || what(o) != what(n) {
				t.Poke()
			}
		},
		DeleteFunc: func(any) { t.Poke() },
	}
}
