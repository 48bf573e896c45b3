// Package sqlite is kite's default datastore: kine's etcd API over one
// SQLite file, tuned for durability and write throughput, kept small under
// churn, with online backup and restore. docs/datastore.md says what each
// setting is for and how it was chosen.
package sqlite

import (
	"context"
	"sync"
	"time"

	"github.com/k3s-io/kine/pkg/drivers"
	kinesqlite "github.com/k3s-io/kine/pkg/drivers/sqlite"
	"github.com/k3s-io/kine/pkg/logstructured"
	"github.com/k3s-io/kine/pkg/logstructured/sqllog"
	"github.com/k3s-io/kine/pkg/server"
)

// Scheme is the kine endpoint scheme of this datastore:
// Scheme + "://" + path to the database file.
const Scheme = "kite-sqlite"

// Params are the SQLite settings every connection opens with:
//   - WAL: readers (watches, lists) never block the writer, nor it them.
//   - synchronous=FULL: a commit returns once its WAL frames are on disk
//     (fsync), so an acknowledged write survives a power cut, not only a
//     crash of kite (NORMAL, kine's default, syncs only at checkpoints: a
//     power cut can take back the last commits).
//   - busy_timeout: a transaction waits for the write lock rather than
//     failing; writes mostly come through one writer (writer.go), so the
//     wait is for compaction and maintenance.
//   - txlock=immediate: a transaction takes the write lock when it begins,
//     so two never both read and then fail to upgrade (SQLITE_BUSY).
//   - auto_vacuum=incremental: pages freed by compaction can be given back
//     to the file system (maintain.go); it takes effect on a new database
//     (an old one is converted once, at open).
//   - no shared cache: kine's default cache=shared serialises readers
//     behind table locks; it halved API throughput (docs/datastore.md).
//
// The _kine_ options are kine's own: no VACUUM at every start (it takes
// seconds on a big database, and maintain.go keeps the file small instead).
const Params = "_journal_mode=WAL&_synchronous=FULL&_busy_timeout=30000&_txlock=immediate&_auto_vacuum=incremental&_stmt_cache_size=32&_kine_disable_startup_vacuum=1"

// Endpoint is kine's endpoint for the database at path. The settings are
// always Params.
func Endpoint(path string) string { return Scheme + "://" + path }

func init() {
	drivers.Register(Scheme, newBackend)
}

// Compaction: kine's own compactor runs every five minutes and keeps
// between five and ten minutes of history, so a busy cluster can pile up
// hundreds of thousands of old revisions. kite compacts itself instead,
// often, keeping HistoryAge of history but never more than MaxHistory
// revisions (nor fewer than kine's minimum, 1000).
const (
	CompactEvery = 5 * time.Second
	HistoryAge   = 5 * time.Minute
	MaxHistory   = 10000
)

// newBackend is kine's SQLite backend with kite's writer and maintenance.
func newBackend(ctx context.Context, wg *sync.WaitGroup, cfg *drivers.Config) (bool, server.Backend, error) {
	path := pathOf(cfg.DataSourceName)
	cfg.DataSourceName = path + "?" + Params
	if err := prepareFile(ctx, path); err != nil {
		return false, nil, err
	}
	// kine's schema, error translation and queries; its pool settings.
	_, dialect, err := kinesqlite.NewVariant(ctx, wg, "sqlite3", cfg)
	if err != nil {
		return false, nil, fileError(path, err)
	}
	register()
	w, err := newWriter(ctx, dialect)
	if err != nil {
		return false, nil, fileError(path, err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.run(ctx)
	}()
	// Compaction is kite's (maintain.go): kine's compactor stays off, and
	// the API server's own compaction requests go through as well.
	cfg.CompactInterval = 0
	log := sqllog.New(&batchedDialect{Generic: dialect, w: w}, wg, cfg)
	backend := logstructured.New(log)
	m := &maintainer{db: dialect.DB, path: path, backend: backend}
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.run(ctx)
	}()
	return false, backend, nil
}
