package datastore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/k3s-io/kine/pkg/endpoint"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kite-project/kite/datastore/kine"
	"github.com/kite-project/kite/datastore/sqlite"
)

// MigratedSuffix is added to the SQLite file's name once its cluster is
// in etcd: kept, never read again.
const MigratedSuffix = ".migrated"

// leasedTTL is the time to live of the keys that had a lease in SQLite
// (Events: the API server's --event-ttl, 1 hour): their leases were
// kine's, so each gets a fresh one in etcd.
const leasedTTL = time.Hour

// migrateFromSQLite copies the cluster in the SQLite file db (served by a
// kine of its own on socket, for this copy only) into etcd: every key under
// /registry/ at its latest value, written in the order of its last change,
// so that objects keep the relative order of their resource versions. The
// file is renamed db.migrated once every key is in, so a copy cut short
// starts again at the next start (the server removes the partial etcd).
func migrateFromSQLite(ctx context.Context, db, socket string, to *clientv3.Client, log *slog.Logger) error {
	started := time.Now()
	kvs, err := readSQLite(ctx, db, socket)
	if err != nil {
		return fmt.Errorf("read the SQLite cluster %s to move it to etcd: %w; it is unchanged, start without --cluster-init to keep using it", db, err)
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].ModRevision < kvs[j].ModRevision })
	// One put a key, in order: a transaction of several would give them
	// one revision. Events keep a lease (see leasedTTL).
	var lease clientv3.LeaseID
	for i, kv := range kvs {
		var opts []clientv3.OpOption
		if kv.Lease != 0 {
			if lease == 0 {
				l, err := to.Grant(ctx, int64(leasedTTL/time.Second))
				if err != nil {
					return fmt.Errorf("etcd lease: %w", err)
				}
				lease = l.ID
			}
			opts = append(opts, clientv3.WithLease(lease))
		}
		if _, err := to.Put(ctx, string(kv.Key), string(kv.Value), opts...); err != nil {
			return fmt.Errorf("write the SQLite cluster into etcd: %w", err)
		}
		if (i+1)%10000 == 0 {
			log.Info("moving the cluster from SQLite into etcd", "objects", i+1, "of", len(kvs))
		}
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(db+suffix, db+MigratedSuffix+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	log.Info("moved the cluster from SQLite into etcd", "objects", len(kvs), "took", time.Since(started).Round(time.Millisecond), "kept", db+MigratedSuffix)
	return nil
}

// readSQLite lists every key under /registry/ in the SQLite file db, at
// one revision, through kine.
func readSQLite(ctx context.Context, db, socket string) ([]*mvccpb.KeyValue, error) {
	if err := sqlite.CheckExisting(db); err != nil {
		return nil, err
	}
	kctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	cfg := kine.ListenConfig("unix://"+socket, sqlite.Endpoint(db))
	cfg.WaitGroup = &wg
	if _, err := endpoint.Listen(kctx, cfg); err != nil {
		return nil, err
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"unix://" + socket}, DialTimeout: 10 * time.Second, Context: kctx})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	const prefix, end = "/registry/", "/registry0" // '0' follows '/'
	var all []*mvccpb.KeyValue
	var rev int64
	for key := prefix; ; {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(1000)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := c.Get(ctx, key, opts...)
		if err != nil {
			return nil, err
		}
		rev = resp.Header.Revision
		all = append(all, resp.Kvs...)
		if !resp.More || len(resp.Kvs) == 0 {
			return all, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
