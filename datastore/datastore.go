// Package datastore is where a kite server keeps the cluster's state: a
// component serving the etcd API that the API server stores objects in,
// and the backups of what is behind it. Today that is kine on SQLite
// (datastore/kine, datastore/sqlite); embedded etcd and external databases
// are further implementations of Store.
package datastore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/kite-project/kite/datastore/kine"
	"github.com/kite-project/kite/datastore/sqlite"
	"github.com/kite-project/kite/pkg/component"
)

// Store is a server's datastore.
type Store interface {
	component.Component
	// Endpoint is the etcd API's address, for the API server's
	// --etcd-servers.
	Endpoint() string
}

// Options say where a server keeps its state and what to do first.
type Options struct {
	DBFile      string // the database (pkg/datadir's DBFile)
	Socket      string // where the etcd API is served (pkg/datadir's KineSocket)
	RestoreFrom string // a backup to restore before serving, or ""
	Log         *slog.Logger
}

// New returns the server's datastore.
func New(o Options) Store {
	k := kine.New(o.DBFile, o.Socket)
	k.RestoreFrom = o.RestoreFrom
	k.Log = o.Log
	return k
}

// Backup writes a consistent copy of the datastore in the file dbFile
// (pkg/datadir's DBFile) to dst, while the server runs or not.
func Backup(ctx context.Context, dbFile, dst string) error {
	return sqlite.Backup(ctx, dbFile, dst)
}

// Check makes sure a server can start on its datastore: the backup to
// restore is sound (read whole), else the database there, if any, is one
// SQLite can open.
func Check(ctx context.Context, o Options) error {
	if o.RestoreFrom != "" {
		if err := sqlite.Check(ctx, o.RestoreFrom, true, true); err != nil {
			return fmt.Errorf("--datastore-restore: %w; give a file 'kite datastore backup' wrote", err)
		}
		return nil
	}
	return sqlite.CheckExisting(o.DBFile)
}
