package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/k3s-io/kine/pkg/server"
)

// The WAL and the free pages: a checkpoint copies the WAL into the
// database file, and the writer then starts the WAL over from its
// beginning, truncating the file to walSizeLimit. Once writes slow down
// (fewer than quietWrites since the last look) the maintainer empties the
// file when it is past walQuietSize. Writes never stop altogether: the API
// server and every node renew leases every 10 s. Readers that never stop
// (watches poll every second) can keep a checkpoint from reaching the end
// of the WAL; past walCheckpointAbove the maintainer forces one, waiting at
// most maintenanceBusy for readers, so the API server stalls no longer.
// Pages freed by compaction are reused by new rows; when more than
// shrinkAbove of them (and a quarter of the file) are free, they are given
// back to the file system, shrinkStep pages at a time.
const (
	walSizeLimit       = 16 << 20
	walCheckpointAbove = 64 << 20
	walQuietSize       = 1 << 20
	quietWrites        = 100 // a CompactEvery: 20 writes/s
	shrinkAbove        = 16 << 20
	shrinkStep         = 2048
	maintenanceBusy    = 200 * time.Millisecond
)

// maintainer compacts the history and keeps the files small.
type maintainer struct {
	db      *sql.DB
	path    string
	backend server.Backend

	samples   []revisionAt
	compacted int64
	lastRev   int64 // the current revision at the last look
}

// revisionAt is the current revision seen at a time.
type revisionAt struct {
	at  time.Time
	rev int64
}

// run works every CompactEvery until ctx ends. It starts after the first
// interval: kine starts the backend (which compaction needs) right after
// newBackend returns.
func (m *maintainer) run(ctx context.Context) {
	conn, err := m.db.Conn(ctx)
	if err != nil {
		slog.Error("sqlite: no connection for maintenance", "err", err)
		return
	}
	defer conn.Close()
	// Maintenance waits little for locks: it tries again next time rather
	// than hold up the API server's writes.
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = "+itoa(maintenanceBusy.Milliseconds())); err != nil {
		slog.Error("sqlite maintenance", "err", err)
		return
	}
	t := time.NewTicker(CompactEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var rev int64
		timed("compact", func() { rev = m.compact(ctx, time.Now()) })
		timed("checkpoint", func() { m.checkpoint(ctx, conn, isQuiet(m.lastRev, rev)) })
		m.lastRev = rev
		timed("shrink", func() { m.shrink(ctx, conn) })
	}
}

// compact compacts as far as the history policy allows and returns the
// current revision (0 if unknown).
func (m *maintainer) compact(ctx context.Context, now time.Time) int64 {
	cur, err := m.backend.CurrentRevision(ctx)
	if err != nil {
		if ctx.Err() == nil {
			slog.Warn("sqlite: current revision", "err", err)
		}
		return 0
	}
	var target int64
	m.samples, target = compactTarget(m.samples, revisionAt{now, cur})
	if target <= m.compacted {
		return cur
	}
	// kine keeps the latest 1000 revisions whatever the target.
	if _, err := m.backend.Compact(ctx, target); err != nil && !errors.Is(err, server.ErrCompacted) {
		if ctx.Err() == nil {
			slog.Warn("sqlite: compact", "to", target, "err", err)
		}
		return cur
	}
	m.compacted = target
	return cur
}

// compactTarget records the current revision and returns the revision to
// compact to: the one current HistoryAge ago, or MaxHistory revisions
// back, whichever is newer. samples keeps what later calls need: the
// newest sample older than HistoryAge and all younger ones.
func compactTarget(samples []revisionAt, now revisionAt) ([]revisionAt, int64) {
	samples = append(samples, now)
	old := -1
	for i, s := range samples {
		if now.at.Sub(s.at) >= HistoryAge {
			old = i
		}
	}
	var target int64
	if old >= 0 {
		target = samples[old].rev
		samples = samples[old:]
	}
	if capped := now.rev - MaxHistory; capped > target {
		target = capped
	}
	return samples, target
}

// isQuiet tells whether few writes were made between two looks at the
// current revision (0: unknown).
func isQuiet(last, now int64) bool {
	return last > 0 && now >= last && now-last < quietWrites
}

// checkpoint empties the WAL file: when it is past walQuietSize and few
// writes come (holding them back for one checkpoint costs little), or
// when readers have kept it growing past walCheckpointAbove.
func (m *maintainer) checkpoint(ctx context.Context, conn *sql.Conn, quiet bool) {
	st, err := os.Stat(m.path + "-wal")
	if err != nil || st.Size() <= walQuietSize || (!quiet && st.Size() <= walCheckpointAbove) {
		return
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil && ctx.Err() == nil {
		slog.Debug("sqlite: WAL checkpoint failed (next time)", "err", err)
	}
}

// shrink gives free pages back to the file system.
func (m *maintainer) shrink(ctx context.Context, conn *sql.Conn) {
	var pages, free, pageSize int64
	err := conn.QueryRowContext(ctx, "SELECT page_count, freelist_count, page_size FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()").Scan(&pages, &free, &pageSize)
	if err != nil {
		if ctx.Err() == nil {
			slog.Warn("sqlite: page counts", "err", err)
		}
		return
	}
	if free*pageSize <= shrinkAbove || free*4 <= pages {
		return
	}
	if err := incrementalVacuum(ctx, conn, shrinkStep); err != nil && ctx.Err() == nil {
		slog.Debug("sqlite: incremental vacuum failed (next time)", "err", err)
	}
}

// incrementalVacuum frees up to n pages. SQLite frees one page a step of
// the statement, so its (empty) rows are read to the end.
func incrementalVacuum(ctx context.Context, conn *sql.Conn, n int) error {
	rows, err := conn.QueryContext(ctx, "PRAGMA incremental_vacuum("+itoa(int64(n))+")")
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}
