package etcd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// fakeCluster is etcd's membership as tend sees it; a learner is promoted
// once ready says so.
type fakeCluster struct {
	members  []member
	ready    map[uint64]bool
	promoted []uint64
	removed  []uint64
}

func (f *fakeCluster) List(context.Context) ([]member, error) {
	return append([]member(nil), f.members...), nil
}

func (f *fakeCluster) Promote(_ context.Context, id uint64) error {
	if !f.ready[id] {
		return errors.New("etcdserver: can only promote a learner member which is in sync with leader")
	}
	for i := range f.members {
		if f.members[i].ID == id {
			f.members[i].Learner = false
		}
	}
	f.promoted = append(f.promoted, id)
	return nil
}

func (f *fakeCluster) Remove(_ context.Context, id uint64) error {
	for i := range f.members {
		if f.members[i].ID == id {
			f.members = append(f.members[:i], f.members[i+1:]...)
			break
		}
	}
	f.removed = append(f.removed, id)
	return nil
}

func TestTendPromotesLearnersOnceCaughtUp(t *testing.T) {
	f := &fakeCluster{
		members: []member{{ID: 1, Name: "s1"}, {ID: 2, Name: "s2", Learner: true}},
		ready:   map[uint64]bool{},
	}
	tn := &tender{cluster: f, seen: map[uint64]time.Time{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	start := time.Now()
	tn.tend(context.Background(), start)
	if len(f.promoted) != 0 || len(f.removed) != 0 {
		t.Fatalf("a learner that has not caught up: promoted %v removed %v", f.promoted, f.removed)
	}
	f.ready[2] = true
	tn.tend(context.Background(), start.Add(10*time.Second))
	if len(f.promoted) != 1 || f.promoted[0] != 2 || f.members[1].Learner {
		t.Fatalf("promoted %v, members %v", f.promoted, f.members)
	}
	if len(tn.seen) != 0 {
		t.Errorf("a promoted learner is still tracked: %v", tn.seen)
	}
}

func TestTendRemovesStuckLearners(t *testing.T) {
	f := &fakeCluster{
		members: []member{
			{ID: 1, Name: "s1"},
			{ID: 2, Learner: true},             // a join cut short: never starts
			{ID: 3, Name: "s3", Learner: true}, // started, never catches up
		},
		ready: map[uint64]bool{},
	}
	tn := &tender{cluster: f, seen: map[uint64]time.Time{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	start := time.Now()
	tn.tend(context.Background(), start)
	tn.tend(context.Background(), start.Add(learnerStartTimeout-time.Second))
	if len(f.removed) != 0 {
		t.Fatalf("removed %v before any timeout", f.removed)
	}
	tn.tend(context.Background(), start.Add(learnerStartTimeout+time.Second))
	if len(f.removed) != 1 || f.removed[0] != 2 {
		t.Fatalf("the learner that never started: removed %v", f.removed)
	}
	tn.tend(context.Background(), start.Add(learnerPromoteTimeout+time.Second))
	if len(f.removed) != 2 || f.removed[1] != 3 {
		t.Fatalf("the learner that never caught up: removed %v", f.removed)
	}
	if len(f.members) != 1 || f.members[0].ID != 1 || len(f.promoted) != 0 {
		t.Fatalf("the voting member must stay as it is: %v, promoted %v", f.members, f.promoted)
	}
}

func TestTendForgetsLearnersRemovedElsewhere(t *testing.T) {
	f := &fakeCluster{members: []member{{ID: 1, Name: "s1"}, {ID: 2, Name: "s2", Learner: true}}, ready: map[uint64]bool{}}
	tn := &tender{cluster: f, seen: map[uint64]time.Time{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	now := time.Now()
	tn.tend(context.Background(), now)
	f.members = f.members[:1]
	tn.tend(context.Background(), now.Add(time.Minute))
	if len(tn.seen) != 0 {
		t.Errorf("still tracked: %v", tn.seen)
	}
}

func TestMemberNames(t *testing.T) {
	a, err := NewMemberName("Edge-1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewMemberName("Edge-1")
	if a == b || !ValidName(a) || a[:7] != "edge-1-" {
		t.Errorf("names %q %q", a, b)
	}
	for _, bad := range []string{"", "-x", "a b", "A"} {
		if ValidName(bad) {
			t.Errorf("%q taken as a name", bad)
		}
	}
}
