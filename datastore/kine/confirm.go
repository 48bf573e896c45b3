package kine

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/k3s-io/kine/pkg/drivers"
	"github.com/k3s-io/kine/pkg/server"
)

// kine's SQL backends (logstructured, v0.17.5) can answer a create as
// done when it was not: if the INSERT fails (the database connection cut,
// as by a database restart) and a read then finds no such key, Create
// returns no error, and the API server acknowledges an object that is not
// stored (e2e TestExternalDatastores lost a few of 2,000 acknowledged
// creates at each PostgreSQL restart). kite's drivers for the external
// databases check each create by reading the key back: one indexed read
// more a create, and a lost create is an error the client retries.
//
// The same shadowing gives a wrong revision when a key is created again
// while its deletion is not compacted yet (the second insert's revision is
// dropped, and Create answers kine's idea of the current revision instead,
// which may be before or after the key's): the API server then hands out a
// resourceVersion that is not the object's (scripts/bench-external's
// second churn: half of such creates). The read back returns the key's
// own.

// kine's PostgreSQL driver (v0.17.5) also holds two connections for each
// write: Append opens a transaction, and the INSERT then runs on another
// connection of the pool (generic.Tx.Insert calls the database's
// queryRow, not the transaction's). With a bounded pool, as many writes as
// connections each hold one and wait for a second, and every query stalls
// until the API server's timeouts (seen with 4 connections: no write got
// through). kite's PostgreSQL driver lets at most (MaxOpen-2)/2 writes run
// at once, so writes can never hold the whole pool; the 2 are for kine's
// own writes outside the API (lease expiry, gap fills).

// Schemes of kite's checked drivers; Driver maps an endpoint to them.
const confirmedPrefix = "kite-"

func init() {
	for _, scheme := range []string{"postgres", "mysql"} {
		original, ok := drivers.Get(scheme)
		if !ok {
			panic("kine has no " + scheme + " driver") // a change of kine's
		}
		holdsTwo := scheme == "postgres"
		drivers.Register(confirmedPrefix+scheme, func(ctx context.Context, wg *sync.WaitGroup, cfg *drivers.Config) (bool, server.Backend, error) {
			leaderElect, backend, err := original(ctx, wg, cfg)
			if err != nil {
				return leaderElect, backend, err
			}
			b := checkedBackend{Backend: backend}
			if open := cfg.ConnectionPoolConfig.MaxOpen; holdsTwo && open > 0 {
				b.writes = make(chan struct{}, WritesAtOnce(open))
			}
			return leaderElect, b, nil
		})
	}
}

// WritesAtOnce is how many writes kite's PostgreSQL driver runs at once
// with a pool of maxOpen connections (at least
// dbendpoint.MinPostgresConnections).
func WritesAtOnce(maxOpen int) int {
	return max(1, (maxOpen-2)/2)
}

// Driver is the endpoint of kite's checked driver for an external
// database endpoint (postgres://, postgresql:// or mysql://).
func Driver(endpoint string) string {
	scheme, rest, _ := strings.Cut(endpoint, "://")
	if scheme == "postgresql" {
		scheme = "postgres"
	}
	return confirmedPrefix + scheme + "://" + rest
}

// checkedBackend is a backend whose creates are read back and, if writes
// is set, whose writes wait for one of its slots.
type checkedBackend struct {
	server.Backend
	writes chan struct{}
}

// slot waits for a write's turn; free gives it back.
func (b checkedBackend) slot(ctx context.Context) (free func(), err error) {
	if b.writes == nil {
		return func() {}, nil
	}
	select {
	case b.writes <- struct{}{}:
		return func() { <-b.writes }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b checkedBackend) Create(ctx context.Context, key string, value []byte, lease int64) (int64, error) {
	free, err := b.slot(ctx)
	if err != nil {
		return 0, err
	}
	rev, err := b.Backend.Create(ctx, key, value, lease)
	free()
	if err != nil {
		return rev, err
	}
	_, kv, err := b.Backend.Get(ctx, key, 0, true)
	if err != nil {
		return 0, fmt.Errorf("create of %s not confirmed: %w", key, err)
	}
	// The key's latest event must be a create (the revision Create
	// answered cannot tell). A lost create whose key another client
	// created at that very moment would pass: two creators of one name
	// meeting a database failure together.
	if kv == nil || kv.CreateRevision != kv.ModRevision {
		return 0, fmt.Errorf("create of %s was not stored (the database connection failed); try again", key)
	}
	return kv.ModRevision, nil
}

func (b checkedBackend) Update(ctx context.Context, key string, value []byte, revision, lease int64) (int64, *server.KeyValue, bool, error) {
	free, err := b.slot(ctx)
	if err != nil {
		return 0, nil, false, err
	}
	defer free()
	return b.Backend.Update(ctx, key, value, revision, lease)
}

func (b checkedBackend) Delete(ctx context.Context, key string, revision int64) (int64, *server.KeyValue, bool, error) {
	free, err := b.slot(ctx)
	if err != nil {
		return 0, nil, false, err
	}
	defer free()
	return b.Backend.Delete(ctx, key, revision)
}
