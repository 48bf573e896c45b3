// Package component runs the long-running parts of kite, each with one small
// lifecycle. Every part is prepared first, then each is run and waited for
// in order:
//
//	Prepare  checks and writes what the part needs; fails fast, starts
//	         nothing, so bad input of any part stops the start before any
//	         part runs
//	Run      does the work until its context is cancelled, then cleans up and
//	         returns (nil on a requested stop)
//	Ready    returns once the part serves (Run keeps going meanwhile)
//	stop     is the cancellation of Run's context; the runner waits for Run
//	         to return, in the reverse order of starting
//
// A part that fails, or whose Run returns early, stops the whole group, except
// that a part whose Run returns a Restart error is prepared and run again in
// place: a control-plane part that lost its leader lease (a slow disk, a
// partition) starts again without taking the API server down with it.
package component

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Component is one long-running part.
type Component interface {
	Name() string
	Prepare(ctx context.Context) error
	Run(ctx context.Context) error
	Ready(ctx context.Context) error
}

// restartRequest marks an error returned by Run to be run again.
type restartRequest struct{ reason error }

func (r restartRequest) Error() string { return r.reason.Error() }
func (r restartRequest) Unwrap() error { return r.reason }

// Restart is what a part's Run returns, for why, to be prepared and run
// again instead of stopping the group.
func Restart(why error) error { return restartRequest{why} }

// RestartPause is the wait before a part that asked to be run again is
// prepared again; what the last run held (a listening port) is let go
// meanwhile.
var RestartPause = time.Second

// StopTimeout bounds how long the runner waits for one component to stop.
var StopTimeout = 30 * time.Second

// StopTimeouter is a component that sets its own stop timeout.
type StopTimeouter interface {
	StopTimeout() time.Duration
}

// Settler is a component told when every component of its group is ready,
// that is when start-up is over (a child process can then release what only
// its start-up needed).
type Settler interface {
	Settled()
}

type running struct {
	c      Component
	cancel context.CancelFunc
	done   chan error
}

// Group starts components in order and stops them in reverse.
type Group struct {
	Log *slog.Logger
	// OnReady is called once every component is ready.
	OnReady func()
}

// Run starts comps one after the other, waiting for each to be ready, then
// waits until ctx is cancelled or one component fails, and stops them all.
// It returns nil after a requested stop, else the first failure.
func (g Group) Run(ctx context.Context, comps ...Component) error {
	var started []*running
	failed := make(chan error, len(comps))
	err := g.start(ctx, comps, &started, failed)
	if err == nil && ctx.Err() == nil {
		if g.OnReady != nil {
			g.OnReady()
		}
		for _, c := range comps {
			if s, ok := c.(Settler); ok {
				s.Settled()
			}
		}
		select {
		case <-ctx.Done():
		case err = <-failed:
		}
	}
	g.stop(started)
	return err
}

func (g Group) start(ctx context.Context, comps []Component, started *[]*running, failed chan error) error {
	for _, c := range comps {
		if err := c.Prepare(ctx); err != nil {
			return fmt.Errorf("%s: %w", c.Name(), err)
		}
	}
	for _, c := range comps {
		if ctx.Err() != nil {
			return nil
		}
		t0 := time.Now()
		g.Log.Info("starting " + c.Name())
		// Detached from ctx: on a stop, the runner cancels components one at
		// a time in reverse order, so the API server still has its
		// datastore while it shuts down.
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r := &running{c: c, cancel: cancel, done: make(chan error, 1)}
		*started = append(*started, r)
		go func() {
			err := g.runRestarting(rctx, c)
			if err == nil && rctx.Err() == nil {
				err = errors.New("stopped unexpectedly")
			}
			if rctx.Err() != nil {
				err = nil // a requested stop; errors on the way out are logged by the component
			}
			if err != nil {
				failed <- fmt.Errorf("%s: %w", c.Name(), err)
			}
			r.done <- err
		}()
		if err := g.waitReady(ctx, rctx, r, failed); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		g.Log.Info(c.Name()+" is ready", "took", time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

// runRestarting runs c until its Run returns anything but a Restart request,
// preparing it again before each new run.
func (g Group) runRestarting(ctx context.Context, c Component) error {
	for {
		err := c.Run(ctx)
		var again restartRequest
		if ctx.Err() != nil || !errors.As(err, &again) {
			return err
		}
		g.Log.Warn(c.Name()+" starts again", "reason", again.reason)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(RestartPause):
		}
		if err := c.Prepare(ctx); err != nil {
			return fmt.Errorf("preparing it again: %w", err)
		}
	}
}

// waitReady waits for r to be ready, for any started component to fail, or
// for a stop request (ctx).
func (g Group) waitReady(ctx, rctx context.Context, r *running, failed <-chan error) error {
	ready := make(chan error, 1)
	go func() { ready <- r.c.Ready(rctx) }()
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("%s: %w", r.c.Name(), err)
		}
		return nil
	case err := <-failed:
		return err
	case <-ctx.Done():
		return nil
	}
}

func (g Group) stop(started []*running) {
	for i := len(started) - 1; i >= 0; i-- {
		r := started[i]
		g.Log.Info("stopping " + r.c.Name())
		r.cancel()
		timeout := StopTimeout
		if st, ok := r.c.(StopTimeouter); ok {
			timeout = st.StopTimeout()
		}
		select {
		case <-r.done:
		case <-time.After(timeout):
			g.Log.Warn(r.c.Name()+" did not stop in time; going on", "waited", timeout)
		}
	}
}
