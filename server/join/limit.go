package join

import (
	"sync"
	"time"
)

// failures slows down an address that keeps failing to join: after
// freeFailures refused requests in a row, it must wait, twice as long after
// each further refusal, up to maxWait. A success forgets the address.
type failures struct {
	mu    sync.Mutex
	addrs map[string]*record
}

type record struct {
	count int
	until time.Time
}

const (
	freeFailures = 5
	maxWait      = 5 * time.Minute
	maxTracked   = 10000
)

// blocked returns how long addr must still wait, 0 if it may try now.
func (f *failures) blocked(addr string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.addrs[addr]; r != nil && now.Before(r.until) {
		return r.until.Sub(now)
	}
	return 0
}

func (f *failures) fail(addr string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addrs == nil || len(f.addrs) >= maxTracked {
		f.addrs = map[string]*record{} // bounded memory; starting over is fine
	}
	r := f.addrs[addr]
	if r == nil {
		r = &record{}
		f.addrs[addr] = r
	}
	r.count++
	if r.count >= freeFailures {
		wait := time.Second << min(r.count-freeFailures, 16)
		r.until = now.Add(min(wait, maxWait))
	}
}

func (f *failures) forget(addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.addrs, addr)
}
