package join

import (
	"testing"
	"time"
)

func TestFailuresSlowDownAnAddress(t *testing.T) {
	var f failures
	now := time.Unix(1000, 0)
	for i := 0; i < freeFailures-1; i++ {
		f.fail("198.18.0.12", now)
		if f.blocked("198.18.0.12", now) != 0 {
			t.Fatalf("blocked after %d failures", i+1)
		}
	}
	f.fail("198.18.0.12", now)
	if f.blocked("198.18.0.12", now) != time.Second {
		t.Fatalf("after %d failures: wait %v", freeFailures, f.blocked("198.18.0.12", now))
	}
	f.fail("198.18.0.12", now)
	if f.blocked("198.18.0.12", now) != 2*time.Second {
		t.Fatal("the wait does not grow")
	}
	if f.blocked("198.18.0.13", now) != 0 {
		t.Fatal("another address is blocked too")
	}
	if f.blocked("198.18.0.12", now.Add(3*time.Second)) != 0 {
		t.Fatal("the wait does not end")
	}
	for i := 0; i < 40; i++ {
		f.fail("198.18.0.12", now)
	}
	if f.blocked("198.18.0.12", now) != maxWait {
		t.Fatal("the wait is not capped")
	}
	f.forget("198.18.0.12")
	if f.blocked("198.18.0.12", now) != 0 {
		t.Fatal("a success does not forget")
	}
}
