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

// Schemes of kite's checked drivers; Driver maps an endpoint to them.
const confirmedPrefix = "kite-"

func init() {
	for _, scheme := range []string{"postgres", "mysql"} {
		original, ok := drivers.Get(scheme)
		if !ok {
			panic("kine has no " + scheme + " driver") // a change of kine's
		}
		drivers.Register(confirmedPrefix+scheme, func(ctx context.Context, wg *sync.WaitGroup, cfg *drivers.Config) (bool, server.Backend, error) {
			leaderElect, backend, err := original(ctx, wg, cfg)
			if err != nil {
				return leaderElect, backend, err
			}
			return leaderElect, confirmedCreates{backend}, nil
		})
	}
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

// confirmedCreates is a backend whose creates are read back.
type confirmedCreates struct{ server.Backend }

func (b confirmedCreates) Create(ctx context.Context, key string, value []byte, lease int64) (int64, error) {
	rev, err := b.Backend.Create(ctx, key, value, lease)
	if err != nil {
		return rev, err
	}
	_, kv, err := b.Backend.Get(ctx, key, 0, true)
	if err != nil {
		return 0, fmt.Errorf("create of %s not confirmed: %w", key, err)
	}
	if kv == nil || kv.ModRevision != rev {
		return 0, fmt.Errorf("create of %s was not stored (the database connection failed); try again", key)
	}
	return rev, nil
}
