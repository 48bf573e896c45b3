package component

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fake records the order of lifecycle calls. A test double for the runner's
// logic only: the real components are exercised by the end-to-end tests.
type fake struct {
	name       string
	log        *events
	prepareErr error
	runErr     error // returned by Run at once, instead of blocking
	ready      chan struct{}
}

type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(s string) { e.mu.Lock(); e.list = append(e.list, s); e.mu.Unlock() }
func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

func (f *fake) Name() string { return f.name }
func (f *fake) Prepare(context.Context) error {
	f.log.add("prepare " + f.name)
	return f.prepareErr
}
func (f *fake) Run(ctx context.Context) error {
	f.log.add("run " + f.name)
	if f.runErr != nil {
		return f.runErr
	}
	<-ctx.Done()
	f.log.add("stopped " + f.name)
	return nil
}
func (f *fake) Ready(ctx context.Context) error {
	if f.ready != nil {
		select {
		case <-f.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.log.add("ready " + f.name)
	return nil
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestStartsInOrderStopsInReverse(t *testing.T) {
	ev := &events{}
	ctx, cancel := context.WithCancel(context.Background())
	g := Group{Log: quiet, OnReady: func() { ev.add("all ready"); cancel() }}
	err := g.Run(ctx, &fake{name: "a", log: ev}, &fake{name: "b", log: ev})
	if err != nil {
		t.Fatal(err)
	}
	got := ev.get()
	// run and ready of one component race; check the order that matters.
	idx := func(s string) int { return slices.Index(got, s) }
	order := []string{"prepare a", "prepare b", "ready a", "ready b", "all ready", "stopped b", "stopped a"}
	for i := 1; i < len(order); i++ {
		if idx(order[i-1]) < 0 || idx(order[i]) < 0 || idx(order[i-1]) > idx(order[i]) {
			t.Fatalf("want %q before %q; events %v", order[i-1], order[i], got)
		}
	}
}

func TestPrepareFailureRunsNothing(t *testing.T) {
	ev := &events{}
	g := Group{Log: quiet, OnReady: func() { t.Error("OnReady called after a failure") }}
	err := g.Run(context.Background(), &fake{name: "a", log: ev}, &fake{name: "b", log: ev, prepareErr: errors.New("port busy")}, &fake{name: "c", log: ev})
	if err == nil || !strings.Contains(err.Error(), "b: port busy") {
		t.Fatalf("err %v", err)
	}
	got := ev.get()
	if slices.Contains(got, "run a") || slices.Contains(got, "prepare c") {
		t.Fatalf("events %v", got)
	}
}

func TestEarlyExitWhileWaitingForReady(t *testing.T) {
	ev := &events{}
	never := make(chan struct{})
	g := Group{Log: quiet}
	done := make(chan error)
	go func() {
		done <- g.Run(context.Background(), &fake{name: "db", log: ev, runErr: errors.New("disk full"), ready: never})
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "db: disk full") {
			t.Fatalf("err %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runner kept waiting for a component that had exited")
	}
}

func TestFailureAfterReadyStopsTheRest(t *testing.T) {
	ev := &events{}
	crash := errors.New("crash")
	failing := &failLater{fake: fake{name: "sched", log: ev}, after: make(chan struct{})}
	g := Group{Log: quiet, OnReady: func() { close(failing.after) }}
	err := g.Run(context.Background(), &fake{name: "api", log: ev}, failing)
	if !errors.Is(err, crash) && (err == nil || !strings.Contains(err.Error(), "sched: crash")) {
		t.Fatalf("err %v", err)
	}
	if !slices.Contains(ev.get(), "stopped api") {
		t.Fatalf("api not stopped: %v", ev.get())
	}
}

type failLater struct {
	fake
	after chan struct{}
}

func (f *failLater) Run(ctx context.Context) error {
	<-f.after
	return errors.New("crash")
}

func TestStopRequestedDuringStartup(t *testing.T) {
	ev := &events{}
	ctx, cancel := context.WithCancel(context.Background())
	slow := &fake{name: "slow", log: ev, ready: make(chan struct{})}
	g := Group{Log: quiet, OnReady: func() { t.Error("OnReady called after a stop request") }}
	done := make(chan error)
	go func() { done <- g.Run(ctx, &fake{name: "a", log: ev}, slow, &fake{name: "c", log: ev}) }()
	for !slices.Contains(ev.get(), "run slow") {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("a requested stop returned %v", err)
	}
	got := ev.get()
	if !slices.Contains(got, "stopped a") || !slices.Contains(got, "stopped slow") || slices.Contains(got, "run c") {
		t.Fatalf("events %v", got)
	}
}

type stuck struct{ fake }

func (s *stuck) Run(ctx context.Context) error { select {} }
func (s *stuck) StopTimeout() time.Duration    { return 10 * time.Millisecond }

func TestComponentStopTimeout(t *testing.T) {
	ev := &events{}
	ctx, cancel := context.WithCancel(context.Background())
	g := Group{Log: quiet, OnReady: cancel}
	done := make(chan error)
	go func() { done <- g.Run(ctx, &fake{name: "db", log: ev}, &stuck{fake{name: "api", log: ev}}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(StopTimeout / 2):
		t.Fatal("the component's own stop timeout was not used")
	}
	if !slices.Contains(ev.get(), "stopped db") {
		t.Fatal("the next component was not stopped after the timeout")
	}
}

// settling is a fake that wants to know when start-up is over.
type settling struct{ fake }

func (s *settling) Settled() { s.log.add("settled " + s.name) }

func TestSettledAfterEveryComponentIsReady(t *testing.T) {
	ev := &events{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lastReady := make(chan struct{})
	g := Group{Log: quiet}
	done := make(chan error, 1)
	go func() {
		done <- g.Run(ctx, &settling{fake{name: "a", log: ev}}, &fake{name: "b", log: ev, ready: lastReady})
	}()
	time.Sleep(50 * time.Millisecond)
	if slices.Contains(ev.get(), "settled a") {
		t.Fatalf("settled before b was ready: %v", ev.get())
	}
	close(lastReady)
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(ev.get(), "settled a") {
		if time.Now().After(deadline) {
			t.Fatalf("a never told start-up is over: %v", ev.get())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNotSettledWhenStartFails(t *testing.T) {
	ev := &events{}
	g := Group{Log: quiet}
	err := g.Run(context.Background(), &settling{fake{name: "a", log: ev}}, &fake{name: "b", log: ev, prepareErr: errors.New("bad flag")})
	if err == nil {
		t.Fatal("no error")
	}
	if slices.Contains(ev.get(), "settled a") {
		t.Fatalf("settled after a failed start: %v", ev.get())
	}
}

// restartOnce asks to be run again the first time it runs, as a scheduler
// that lost its leader lease does, then runs until stopped.
type restartOnce struct {
	fake
	runs int
}

func (r *restartOnce) Run(ctx context.Context) error {
	r.runs++
	r.log.add("run " + r.name)
	if r.runs == 1 {
		return Restart(errors.New("lost its lease"))
	}
	<-ctx.Done()
	r.log.add("stopped " + r.name)
	return nil
}

func TestRestartRunsThePartAgainAndKeepsTheRest(t *testing.T) {
	defer func(p time.Duration) { RestartPause = p }(RestartPause)
	RestartPause = time.Millisecond
	ev := &events{}
	ctx, cancel := context.WithCancel(context.Background())
	sched := &restartOnce{fake: fake{name: "sched", log: ev}}
	done := make(chan error)
	go func() { done <- Group{Log: quiet}.Run(ctx, &fake{name: "api", log: ev}, sched) }()
	for countOf(ev.get(), "run sched") < 2 {
		select {
		case err := <-done:
			t.Fatalf("the group stopped on a restart request: %v; events %v", err, ev.get())
		case <-time.After(time.Millisecond):
		}
	}
	if slices.Contains(ev.get(), "stopped api") {
		t.Fatalf("api stopped on sched's restart: %v", ev.get())
	}
	if n := countOf(ev.get(), "prepare sched"); n != 2 {
		t.Errorf("sched prepared %d times, want 2 (once more before its second run): %v", n, ev.get())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("a requested stop returned %v", err)
	}
	if got := ev.get(); !slices.Contains(got, "stopped sched") || !slices.Contains(got, "stopped api") {
		t.Fatalf("events %v", got)
	}
}

func countOf(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}
