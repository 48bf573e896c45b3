// Package kine runs kine, the etcd API over SQL, in the kite process: by
// default on SQLite at <data-dir>/server/db/state.db, served to the API
// server on a unix socket that only root can open.
package kine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/k3s-io/kine/pkg/drivers/sqlite"
	"github.com/k3s-io/kine/pkg/endpoint"
)

// Kine is the datastore component.
type Kine struct {
	DBPath string // the SQLite file
	Socket string // the unix socket the API server dials

	wg    sync.WaitGroup
	ready chan struct{}
}

// New returns the SQLite datastore of a server whose state lives in dir
// (<data-dir>/server).
func New(dir string) *Kine {
	return &Kine{
		DBPath: filepath.Join(dir, "db", "state.db"),
		Socket: filepath.Join(dir, "kine.sock"),
		ready:  make(chan struct{}),
	}
}

func (k *Kine) Name() string { return "datastore (kine on SQLite)" }

// Endpoint is the address for the API server's --etcd-servers.
func (k *Kine) Endpoint() string { return "unix://" + k.Socket }

func (k *Kine) Prepare(context.Context) error {
	if err := os.MkdirAll(filepath.Dir(k.DBPath), 0o700); err != nil {
		return fmt.Errorf("create database folder: %w", err)
	}
	return nil
}

func (k *Kine) Run(ctx context.Context) error {
	cfg := endpoint.Config{
		Listener:  k.Endpoint(),
		Endpoint:  "sqlite://" + k.DBPath + "?" + sqlite.DefaultParams,
		WaitGroup: &k.wg,
		// The defaults of kine's own command line, which Listen does not
		// fill in for a caller.
		NotifyInterval:      5 * time.Second,
		EmulatedETCDVersion: "3.6.11",
		CompactTimeout:      5 * time.Second,
		CompactMinRetain:    1000,
		CompactBatchSize:    1000,
		PollBatchSize:       500,
		PollInterval:        time.Second,
	}
	cfg.ConnectionPoolConfig.MaxIdle = 20
	cfg.ConnectionPoolConfig.MaxIdleTime = 2 * time.Minute
	if _, err := endpoint.Listen(ctx, cfg); err != nil {
		return fmt.Errorf("start kine on %s: %w", k.DBPath, err)
	}
	close(k.ready)
	<-ctx.Done()
	// Listen's own goroutines stop the gRPC server and close the database
	// once ctx is done; wait for them so SQLite is closed before exit.
	done := make(chan struct{})
	go func() { k.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	return nil
}

func (k *Kine) Ready(ctx context.Context) error {
	select {
	case <-k.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
