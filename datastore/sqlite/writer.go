package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/k3s-io/kine/pkg/drivers/generic"
	"github.com/k3s-io/kine/pkg/server"
)

// maxBatch bounds how many writes share one transaction.
const maxBatch = 512

// batchedDialect is kine's SQLite dialect with its appends (every create,
// update and delete of the etcd API) grouped: concurrent appends become
// one transaction, so one commit (one fsync of the WAL, with
// synchronous=FULL) acknowledges all of them. Nothing is acknowledged
// before its transaction commits. Every other statement goes to kine's
// own dialect unchanged.
type batchedDialect struct {
	*generic.Generic
	w *writer
}

// BeginTx hands kine's appends to the writer. kine's SQLLog.Append is the
// only caller that asks for ReadCommitted (compaction asks for
// Serializable); an append's transaction only ever sees Insert, then
// Commit or Rollback, and appendTx fails loudly on anything else.
func (d *batchedDialect) BeginTx(ctx context.Context, opts *sql.TxOptions) (server.Transaction, error) {
	if opts != nil && opts.Isolation == sql.LevelReadCommitted {
		return &appendTx{w: d.w, ctx: ctx}, nil
	}
	return d.Generic.BeginTx(ctx, opts)
}

// insert is one append waiting for the writer.
type insert struct {
	args     []any
	inserted chan insertResult // the row's id (0: the key moved on), or why not
	commit   chan error        // the outcome of the transaction holding the row
}

type insertResult struct {
	id  int64
	err error
}

// writer runs every append on one connection, batching those that queue
// up while a transaction commits.
type writer struct {
	conn      *sql.Conn
	insertSQL string
	translate func(error) error
	queue     chan *insert  // unbuffered: a queued append is one the writer took
	done      chan struct{} // closed when the writer stops
}

func newWriter(ctx context.Context, d *generic.Generic) (*writer, error) {
	conn, err := d.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	// The writer's commits restart the WAL once it is checkpointed; this
	// caps the file it leaves behind.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA journal_size_limit = %d", walSizeLimit)); err != nil {
		conn.Close()
		return nil, err
	}
	return &writer{
		conn:      conn,
		insertSQL: d.InsertSQL.Query,
		translate: d.TranslateErr,
		queue:     make(chan *insert),
		done:      make(chan struct{}),
	}, nil
}

// run writes until ctx ends. kine stops serving before it ends ctx, so no
// append is left waiting; one that comes later gets errStopped.
func (w *writer) run(ctx context.Context) {
	defer w.conn.Close()
	defer close(w.done)
	for {
		var first *insert
		select {
		case <-ctx.Done():
			return
		case first = <-w.queue:
		}
		batch := []*insert{first}
	more:
		for len(batch) < maxBatch {
			select {
			case in := <-w.queue:
				batch = append(batch, in)
			default:
				break more
			}
		}
		w.write(batch)
	}
}

// write runs a batch in one transaction. A row that fails (a key created
// twice) fails alone, as SQLite rolls back only the failing statement; a
// failed commit fails them all.
func (w *writer) write(batch []*insert) {
	// Not the callers' contexts: one caller giving up must not roll back
	// the others' writes.
	ctx := context.Background()
	begin := time.Now()
	tx, err := w.conn.BeginTx(ctx, nil)
	lockWaitSeconds.Observe(time.Since(begin).Seconds())
	if err != nil {
		for _, in := range batch {
			in.inserted <- insertResult{err: err}
		}
		return
	}
	stmt, err := tx.PrepareContext(ctx, w.insertSQL)
	if err != nil {
		tx.Rollback()
		for _, in := range batch {
			in.inserted <- insertResult{err: err}
		}
		return
	}
	written := batch[:0]
	for _, in := range batch {
		id, err := w.exec(ctx, stmt, in.args)
		in.inserted <- insertResult{id: id, err: err}
		if err == nil {
			written = append(written, in)
		}
	}
	stmt.Close()
	commit := time.Now()
	err = tx.Commit()
	commitSeconds.Observe(time.Since(commit).Seconds())
	batchSeconds.Observe(time.Since(begin).Seconds())
	batchWrites.Observe(float64(len(batch)))
	for _, in := range written {
		in.commit <- err
	}
}

// exec inserts one row as kine's own Insert does: no row means the key's
// latest revision is not the one the caller read (a lost compare).
func (w *writer) exec(ctx context.Context, stmt *sql.Stmt, args []any) (int64, error) {
	res, err := stmt.ExecContext(ctx, args...)
	if err != nil {
		if w.translate != nil {
			err = w.translate(err)
		}
		return 0, err
	}
	rows, err := res.RowsAffected()
	if err != nil || rows == 0 {
		return 0, err
	}
	return res.LastInsertId()
}

// appendTx is the transaction kine's Append sees.
type appendTx struct {
	w   *writer
	ctx context.Context
	in  *insert
}

var errStopped = errors.New("the datastore is stopping")

var errNotAppend = errors.New("kite's SQLite writer only runs kine's appends (insert, then commit)")

func (t *appendTx) Insert(ctx context.Context, key string, created, deleted bool, previousRevision, ttl int64, value []byte) (int64, error) {
	// The same columns, in the same order, as kine's generic Insert.
	t.in = &insert{
		args:     []any{previousRevision, key, boolInt(created), boolInt(deleted), previousRevision, ttl, value, key, previousRevision},
		inserted: make(chan insertResult, 1),
		commit:   make(chan error, 1),
	}
	select {
	case t.w.queue <- t.in:
	case <-t.w.done:
		return 0, errStopped
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	// Once queued the row is written whatever the caller does: wait for it.
	r := <-t.in.inserted
	return r.id, r.err
}

func (t *appendTx) Commit() error {
	if t.in == nil {
		return nil
	}
	return <-t.in.commit
}

func (t *appendTx) MustCommit() {
	if err := t.Commit(); err != nil {
		panic(fmt.Sprintf("kite sqlite: commit failed: %v", err))
	}
}

// Rollback follows a failed Insert, whose row SQLite already took back.
func (t *appendTx) Rollback() error { return nil }
func (t *appendTx) MustRollback()   {}

func (t *appendTx) GetCompactRevision(context.Context) (int64, error) { return 0, errNotAppend }
func (t *appendTx) SetCompactRevision(context.Context, int64) error   { return errNotAppend }
func (t *appendTx) Compact(context.Context, int64, int64) (int64, error) {
	return 0, errNotAppend
}
func (t *appendTx) DeleteRevision(context.Context, int64) error    { return errNotAppend }
func (t *appendTx) CurrentRevision(context.Context) (int64, error) { return 0, errNotAppend }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
