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
