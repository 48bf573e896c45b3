package join

import (
	"testing"
	"time"
)

// fail runs one failed attempt from addr.
func (f *failures) failOnce(t *testing.T, addr string, now time.Time) {
	t.Helper()
	r, wait := f.begin(addr, now)
	if r == nil {
		t.Fatalf("%s: refused (wait %v) before the attempt", addr, wait)
	}
	f.end(addr, r, failed, now)
}

func TestFailuresSlowDownAnAddress(t *testing.T) {
	var f failures
	now := time.Unix(1000, 0)
	for i := 0; i < freeFailures; i++ {
		f.failOnce(t, "198.18.0.12", now)
	}
	if _, wait := f.begin("198.18.0.12", now); wait != time.Second {
		t.Fatalf("after %d failures: wait %v", freeFailures, wait)
	}
	now = now.Add(time.Second)
	f.failOnce(t, "198.18.0.12", now)
	if _, wait := f.begin("198.18.0.12", now); wait != 2*time.Second {
		t.Fatalf("the wait does not grow: %v", wait)
	}
	if r, _ := f.begin("198.18.0.13", now); r == nil {
		t.Fatal("another address is blocked too")
	}
	for i := 0; i < 40; i++ {
		now = now.Add(maxWait)
		f.failOnce(t, "198.18.0.12", now)
	}
	if _, wait := f.begin("198.18.0.12", now); wait != maxWait {
		t.Fatalf("the wait is not capped: %v", wait)
	}
	now = now.Add(maxWait)
	r, _ := f.begin("198.18.0.12", now)
	if r == nil {
		t.Fatal("the wait does not end")
	}
	f.end("198.18.0.12", r, succeeded, now)
	if len(f.addrs) != 1 { // 198.18.0.13's attempt is still in flight
		t.Fatalf("a success does not forget the address: %d tracked", len(f.addrs))
	}
}

// Attempts count when they start: at most freeFailures of one address at
// once, and once the address has failed that often, one at a time.
func TestAttemptsInFlightTakeTheBudget(t *testing.T) {
	var f failures
	now := time.Unix(1000, 0)
	var held []*record
	for i := 0; i < freeFailures; i++ {
		r, _ := f.begin("198.18.0.12", now)
		if r == nil {
			t.Fatalf("attempt %d refused", i+1)
		}
		held = append(held, r)
	}
	if r, wait := f.begin("198.18.0.12", now); r != nil || wait <= 0 {
		t.Fatalf("attempt %d with %d in flight was let through", freeFailures+1, freeFailures)
	}
	// A neutral end (a bad request) gives the budget back.
	f.end("198.18.0.12", held[0], neutral, now)
	if held[0], _ = f.begin("198.18.0.12", now); held[0] == nil {
		t.Fatal("a neutral attempt kept its place")
	}
	for _, r := range held {
		f.end("198.18.0.12", r, failed, now)
	}
	now = now.Add(time.Hour)
	probe, _ := f.begin("198.18.0.12", now)
	if probe == nil {
		t.Fatal("no attempt after the wait")
	}
	if r, _ := f.begin("198.18.0.12", now); r != nil {
		t.Fatal("two attempts at once after the wait")
	}
	if wait := f.end("198.18.0.12", probe, failed, now); wait != 2*time.Second {
		t.Fatalf("a failed probe: wait %v", wait)
	}
}

// The table is bounded: when full, sources that wait no more are dropped;
// attempts in flight keep their records.
func TestTheTableIsBounded(t *testing.T) {
	var f failures
	now := time.Unix(1000, 0)
	held, _ := f.begin("10.0.0.0", now)
	for i := 1; i < maxTracked+10; i++ {
		addr := string(rune(i)) // any distinct key
		f.failOnce(t, addr, now)
	}
	if len(f.addrs) > maxTracked {
		t.Fatalf("%d tracked", len(f.addrs))
	}
	f.end("10.0.0.0", held, failed, now) // harmless, tracked or not
}

func TestSampler(t *testing.T) {
	var s sampler
	now := time.Unix(1000, 0)
	if s.add(now) != 1 {
		t.Fatal("the first event is not logged")
	}
	for i := 0; i < 9; i++ {
		if s.add(now.Add(time.Second)) != 0 {
			t.Fatal("logged within the interval")
		}
	}
	if n := s.add(now.Add(sampleEvery)); n != 10 {
		t.Fatalf("next log counts %d, want 10", n)
	}
}
