// Package datastore is where a kite server keeps the cluster's state: a
// component serving the etcd API that the API server stores objects in,
// and the backups of what is behind it: kine on SQLite (datastore/kine,
// datastore/sqlite), the default, or embedded etcd (datastore/etcd, kite
// server --cluster-init); external databases will be further
// implementations of Store.
package datastore

import (
	"context"
	"fmt"
	"log/slog"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kite-project/kite/datastore/etcd"
	"github.com/kite-project/kite/datastore/kine"
	"github.com/kite-project/kite/datastore/sqlite"
	"github.com/kite-project/kite/pkg/component"
	"github.com/kite-project/kite/pkg/dbendpoint"
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
	// Etcd, if set, is the embedded etcd member to run instead of kine.
	Etcd *etcd.Config
	// MigrateFromSQLite: etcd starts empty and takes in the cluster in
	// DBFile (kite server --cluster-init on a SQLite server), which is
	// then kept aside as DBFile + MigratedSuffix.
	MigrateFromSQLite bool
	// External, if its Kind is set, is a datastore of the user's
	// (--datastore-endpoint): PostgreSQL or MySQL through kine, or an etcd
	// cluster the API server uses directly; sqlite:// moves DBFile.
	External    dbendpoint.Endpoint
	ExternalTLS dbendpoint.TLS
	Pool        dbendpoint.Pool // the SQL datastore's connections
	Log         *slog.Logger
}

// New returns the server's datastore.
func New(o Options) Store {
	switch o.External.Kind {
	case dbendpoint.Etcd:
		return externalEtcd{servers: o.External.Servers}
	case dbendpoint.Postgres, dbendpoint.MySQL:
		k := kine.New("", o.Socket)
		k.External, k.What, k.TLS, k.Pool, k.Log = kine.Driver(o.External.URL), o.External.Redacted, o.ExternalTLS, o.Pool, o.Log
		return k
	}
	if o.Etcd != nil {
		e := etcd.New(*o.Etcd)
		e.Log = o.Log
		if o.MigrateFromSQLite {
			e.Seed = func(ctx context.Context, c *clientv3.Client) error {
				return migrateFromSQLite(ctx, o.DBFile, o.Socket, c, e.Log)
			}
		}
		return e
	}
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

// Check makes sure a server can start on its datastore, writing nothing:
// an external datastore takes this server (waiting while it cannot be
// reached); etcd's ports are free; or the backup to restore is sound (read whole),
// else the database there, if any, is one SQLite can open.
func Check(ctx context.Context, o Options) error {
	switch o.External.Kind {
	case dbendpoint.Etcd, dbendpoint.Postgres, dbendpoint.MySQL:
		return waitReachable(ctx, o.External, o.ExternalTLS, o.Log)
	}
	if o.Etcd != nil {
		if o.MigrateFromSQLite {
			if err := sqlite.CheckExisting(o.DBFile); err != nil {
				return err
			}
		}
		return etcd.New(*o.Etcd).Check()
	}
	if o.RestoreFrom != "" {
		if err := sqlite.Check(ctx, o.RestoreFrom, true, true); err != nil {
			return fmt.Errorf("--datastore-restore: %w; give a file 'kite datastore backup' wrote", err)
		}
		return nil
	}
	return sqlite.CheckExisting(o.DBFile)
}
