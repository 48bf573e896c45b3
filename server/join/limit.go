package join

import (
	"sync"
	"sync/atomic"
	"time"
)

// The join endpoint is open to anyone who reaches the API server's port,
// so it limits join attempts before it does any work for them:
//
//  1. Per source (an IPv4 address; an IPv6 /64): an attempt counts when it
//     starts. At most freeFailures attempts of a source may be in flight
//     or have failed in a row; once freeFailures have failed, the source
//     waits 1 s, then twice as long after each further failure, up to
//     maxWait, and between waits only one attempt at a time gets through.
//     So a burst of any size from one address reaches authentication at
//     most freeFailures times; the rest get 429 with Retry-After at once.
//     A success (a node joined) clears the source's failures.
//  2. Globally: at most defaultMaxUnauthenticated attempts (of any sources)
//     may be in their unauthenticated part at once: the token checked in
//     memory, or the client certificate verified. Above it an attempt is
//     shed, 429 with Retry-After: 1, without its body being read. The cap
//     sheds, it never queues, and it is held only for that check (no API
//     request, no body), so it fills only when very many sources try at
//     the same instant.
//
// A flood from one address or a few is thus stopped by (1) before it takes
// any of (2); a node joining from another address meanwhile gets through
// at its first try. A flood from very many addresses may have a real
// node's attempt shed now and then; the agent retries 429 and 5xx answers
// (1, 2, 4 … 30 s), and each of its tries has the same chance as any
// other's, so it joins within a few retries. Requests with a node's client
// certificate take the same path: the certificate is verified within the
// cap, and a joined node floods no better than anyone else.
const (
	freeFailures              = 5
	maxWait                   = 5 * time.Minute
	maxTracked                = 10000
	defaultMaxUnauthenticated = 64
)

// failures counts the join attempts of each source (see above).
type failures struct {
	mu    sync.Mutex
	addrs map[string]*record
}

type record struct {
	failed   int // in a row
	inflight int
	until    time.Time // no attempt before
}

// outcome is what a finished attempt counts as.
type outcome int

const (
	neutral   outcome = iota // neither: a bad request, the server starting or in trouble
	failed                   // a bad token (or certificate)
	succeeded                // a node joined
)

// begin admits an attempt from addr: it returns the attempt's record, to
// give back to end, or nil and how long addr must wait.
func (f *failures) begin(addr string, now time.Time) (*record, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.addrs[addr]
	if r == nil {
		if f.addrs == nil {
			f.addrs = map[string]*record{}
		}
		if len(f.addrs) >= maxTracked {
			f.prune(now)
		}
		r = &record{}
		f.addrs[addr] = r
	}
	if now.Before(r.until) {
		return nil, r.until.Sub(now)
	}
	// Past a wait, one attempt at a time; before, the free budget. Taken
	// by attempts still running, it is back within a request's time.
	budget := freeFailures - r.failed
	if r.failed >= freeFailures {
		budget = 1
	}
	if r.inflight >= budget {
		return nil, time.Second
	}
	r.inflight++
	return r, 0
}

// end counts the attempt r of addr as finished with result. It returns
// the wait addr now has to sit out if this failure started one, else 0.
func (f *failures) end(addr string, r *record, result outcome, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	r.inflight = max(r.inflight-1, 0)
	var wait time.Duration
	switch result {
	case failed:
		r.failed++
		if r.failed >= freeFailures {
			wait = min(time.Second<<min(r.failed-freeFailures, 16), maxWait)
			r.until = now.Add(wait)
		}
	case succeeded:
		r.failed, r.until = 0, time.Time{}
	}
	if r.failed == 0 && r.inflight == 0 && f.addrs[addr] == r {
		delete(f.addrs, addr)
	}
	return wait
}

// prune makes room in a full table: it drops sources that wait no more
// and have nothing in flight, and if that is not enough, starts over
// (bounded memory wins over the memory of old failures; records still in
// use stay valid for their attempts).
func (f *failures) prune(now time.Time) {
	for addr, r := range f.addrs {
		if r.inflight == 0 && !now.Before(r.until) {
			delete(f.addrs, addr)
		}
	}
	if len(f.addrs) >= maxTracked*3/4 {
		f.addrs = map[string]*record{}
	}
}

// gate counts the attempts in their unauthenticated part.
type gate struct{ n atomic.Int64 }

func (g *gate) enter(limit int) bool {
	if g.n.Add(1) > int64(limit) {
		g.n.Add(-1)
		return false
	}
	return true
}

func (g *gate) leave() { g.n.Add(-1) }

// sampler counts shed attempts so that they are logged at most once every
// sampleEvery, with how many there were.
type sampler struct {
	mu     sync.Mutex
	n      int
	logged time.Time
}

const sampleEvery = 10 * time.Second

// add counts one event; it returns how many to log now (0: not now).
func (s *sampler) add(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if now.Sub(s.logged) < sampleEvery {
		return 0
	}
	n := s.n
	s.n, s.logged = 0, now
	return n
}
