// Package certcache keeps the API server's answers to client certificates
// for a few seconds, so that a request does not pay a signature check.
package certcache

import (
	"crypto/sha256"
	"encoding/binary"
	"net/http"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// Upstream's x509 authenticator verifies the client certificate's chain
// on every request: with kite's ECDSA P-256 client CA that is one
// signature check (~60 µs of CPU) a request, ~12% of the API server's CPU
// while 16 clients create objects (docs/datastore.md). A connection's
// certificate does not change, and neither does the answer until the
// certificate expires or the client CA changes, so kite keeps the answers
// for a few seconds.
//
// A Cache answers for a chain the wrapped x509 authenticator accepted
// less than TTL ago (never past the chain's expiry), and asks it
// otherwise. It has no opinion on anything the wrapped authenticator
// rejects or does not handle, so the API server's own chain (request
// header, x509, tokens…) then decides, with upstream's errors: put in
// front of that chain, the answers are the same as without it, as long as
// the client CA is not also the request-header CA (a front proxy's
// certificate then stands for the user in its headers, which must win).
type Cache struct {
	inner authenticator.Request // upstream's x509 authenticator, kite's client CA
	now   func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]certEntry
}

type certEntry struct {
	resp    *authenticator.Response
	expires time.Time
}

const (
	TTL     = 10 * time.Second
	maxSize = 1024 // distinct client certificates; past it the cache starts over
)

// New wraps inner, upstream's x509 authenticator for the client CA.
func New(inner authenticator.Request) *Cache {
	return &Cache{inner: inner, now: time.Now, entries: map[[sha256.Size]byte]certEntry{}}
}

// Clear forgets every answer: the client CA changed.
func (c *Cache) Clear() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}

// Enqueue is dynamiccertificates.Listener's: the CA file was reloaded.
func (c *Cache) Enqueue() { c.Clear() }

func (c *Cache) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	key := chainKey(req)
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return copyResponse(e.resp), true, nil
	}

	resp, ok, err := c.inner.AuthenticateRequest(req)
	if err != nil || !ok {
		return nil, false, nil
	}
	expires := now.Add(TTL)
	for _, cert := range req.TLS.PeerCertificates {
		if cert.NotAfter.Before(expires) {
			expires = cert.NotAfter
		}
	}
	c.mu.Lock()
	if len(c.entries) >= maxSize {
		clear(c.entries)
	}
	c.entries[key] = certEntry{resp: copyResponse(resp), expires: expires}
	c.mu.Unlock()
	return resp, true, nil
}

// chainKey is a digest of the certificates the client presented, in order.
func chainKey(req *http.Request) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	for _, cert := range req.TLS.PeerCertificates {
		binary.BigEndian.PutUint64(n[:], uint64(len(cert.Raw)))
		h.Write(n[:])
		h.Write(cert.Raw)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}

// copyResponse copies what later filters may append to (groups, extra),
// so that requests never share them.
func copyResponse(r *authenticator.Response) *authenticator.Response {
	u := &user.DefaultInfo{
		Name:   r.User.GetName(),
		UID:    r.User.GetUID(),
		Groups: append([]string(nil), r.User.GetGroups()...),
	}
	if extra := r.User.GetExtra(); extra != nil {
		u.Extra = make(map[string][]string, len(extra))
		for k, v := range extra {
			u.Extra[k] = append([]string(nil), v...)
		}
	}
	return &authenticator.Response{Audiences: append(authenticator.Audiences(nil), r.Audiences...), User: u}
}
