// Package kine runs kine, the etcd API over SQL, in the kite process: by
// default on SQLite (datastore/sqlite) at <data-dir>/server/db/state.db,
// or on an external PostgreSQL or MySQL database (--datastore-endpoint),
// served to the API server on a unix socket that only root can open.
package kine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/k3s-io/kine/pkg/endpoint"
	kinetls "github.com/k3s-io/kine/pkg/tls"

	"github.com/kite-project/kite/datastore/sqlite"
	"github.com/kite-project/kite/pkg/dbendpoint"
)

// Kine is the datastore component.
type Kine struct {
	DBPath string // the SQLite file, unless External
	// External is a SQL database of the user's (kine's endpoint form,
	// password included: never logged), named What in messages, and
	// reached with TLS's files.
	External, What string
	TLS            dbendpoint.TLS
	Pool           dbendpoint.Pool
	Socket         string // the unix socket the API server dials
	// RestoreFrom, if set, is a backup put in place of the database
	// before kine opens it (kite server --datastore-restore).
	RestoreFrom string
	Log         *slog.Logger

	wg    sync.WaitGroup
	ready chan struct{}
}

// New returns the SQLite datastore in the file dbPath, served on socket
// (pkg/datadir: DBFile, KineSocket).
func New(dbPath, socket string) *Kine {
	return &Kine{
		DBPath: dbPath,
		Socket: socket,
		ready:  make(chan struct{}),
	}
}

func (k *Kine) Name() string {
	if k.External != "" {
		return "datastore (kine on " + k.What + ")"
	}
	return "datastore (kine on SQLite)"
}

// Endpoint is the address for the API server's --etcd-servers.
func (k *Kine) Endpoint() string { return "unix://" + k.Socket }

func (k *Kine) Prepare(ctx context.Context) error {
	if k.External != "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(k.DBPath), 0o700); err != nil {
		return fmt.Errorf("create database folder: %w", err)
	}
	if k.RestoreFrom == "" {
		return nil
	}
	aside, restored, err := sqlite.Restore(ctx, k.DBPath, k.RestoreFrom)
	if err != nil {
		return err
	}
	if k.Log != nil {
		switch {
		case !restored:
			k.Log.Warn("this backup was restored here before; not restoring it again (remove the marker file to restore it once more)",
				"backup", k.RestoreFrom, "marker", k.DBPath+".restored")
		case aside != "":
			k.Log.Info("restored the datastore from a backup; the old database is kept aside", "backup", k.RestoreFrom, "old", aside)
		default:
			k.Log.Info("restored the datastore from a backup", "backup", k.RestoreFrom)
		}
	}
	return nil
}

func (k *Kine) Run(ctx context.Context) error {
	if err := k.listen(ctx, k.Endpoint(), &k.wg); err != nil {
		return err
	}
	close(k.ready)
	<-ctx.Done()
	// Listen's own goroutines stop the gRPC server and close the database
	// once ctx is done; wait for them so SQLite is closed before exit.
	waitFor(&k.wg, 10*time.Second)
	return nil
}

// Serve serves the database on the unix socket at path until ctx ends,
// for a short use before the component runs (the cluster's shared keys
// on an external database); wait waits for it to have closed.
func (k *Kine) Serve(ctx context.Context, path string) (wait func(), err error) {
	var wg sync.WaitGroup
	if err := k.listen(ctx, "unix://"+path, &wg); err != nil {
		return nil, err
	}
	return func() { waitFor(&wg, 10*time.Second) }, nil
}

func (k *Kine) listen(ctx context.Context, listener string, wg *sync.WaitGroup) error {
	cfg := ListenConfig(listener, sqlite.Endpoint(k.DBPath))
	what := k.DBPath
	if k.External != "" {
		cfg.Endpoint, what = k.External, k.What
		// kine's own compactor, at kine's default interval: an external
		// database has no compaction of kite's (datastore/sqlite).
		cfg.CompactInterval = 5 * time.Minute
		cfg.ConnectionPoolConfig.MaxOpen, cfg.ConnectionPoolConfig.MaxIdle = k.Pool.MaxOpen, k.Pool.MaxIdle
		if k.Pool.MaxIdle == 0 {
			cfg.ConnectionPoolConfig.MaxIdle = -1 // kine's "none" (its 0 is "its default")
		}
		cfg.BackendTLSConfig = kinetls.Config{CAFile: k.TLS.CAFile, CertFile: k.TLS.CertFile, KeyFile: k.TLS.KeyFile}
	}
	cfg.WaitGroup = wg
	if _, err := endpoint.Listen(ctx, cfg); err != nil {
		return fmt.Errorf("start kine on %s: %w", what, err)
	}
	return nil
}

func waitFor(wg *sync.WaitGroup, timeout time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

// ListenConfig is kine's configuration with the defaults of kine's own
// command line, which endpoint.Listen does not fill in for a caller.
// Compaction is the backend's (datastore/sqlite).
func ListenConfig(listener, datastore string) endpoint.Config {
	cfg := endpoint.Config{
		Listener:            listener,
		Endpoint:            datastore,
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
	return cfg
}

func (k *Kine) Ready(ctx context.Context) error {
	select {
	case <-k.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
