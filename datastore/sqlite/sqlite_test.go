package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k3s-io/kine/pkg/drivers"
	"github.com/k3s-io/kine/pkg/server"
	"k8s.io/component-base/metrics/legacyregistry"
)

// startBackend serves kite's SQLite backend on a file in a temp dir, as
// kine's endpoint does.
func startBackend(t *testing.T, path string) server.Backend {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	_, b, err := drivers.New(ctx, &wg, &drivers.Config{
		Endpoint:         Endpoint(path),
		CompactTimeout:   5 * time.Second,
		CompactMinRetain: 1000,
		CompactBatchSize: 1000,
		PollBatchSize:    500,
		PollInterval:     time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConcurrentWritesAreBatchedAndEachKeepsItsMeaning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b := startBackend(t, path)
	ctx := context.Background()

	const n = 200
	revs := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			revs[i], errs[i] = b.Create(ctx, fmt.Sprintf("/registry/configmaps/default/cm-%d", i), []byte("v"), 0)
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i := range revs {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		if revs[i] == 0 || seen[revs[i]] {
			t.Fatalf("create %d got revision %d, not a new one", i, revs[i])
		}
		seen[revs[i]] = true
	}

	// A second create of a key fails alone, in a batch with good writes.
	var dupErr, okErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, dupErr = b.Create(ctx, "/registry/configmaps/default/cm-0", []byte("again"), 0)
	}()
	go func() { defer wg.Done(); _, okErr = b.Create(ctx, "/registry/configmaps/default/new", []byte("v"), 0) }()
	wg.Wait()
	if !errors.Is(dupErr, server.ErrKeyExists) {
		t.Fatalf("second create of a key: %v, want ErrKeyExists", dupErr)
	}
	if okErr != nil {
		t.Fatalf("create beside a failing one: %v", okErr)
	}

	// An update from a stale revision loses the compare; a current one wins.
	key := "/registry/configmaps/default/cm-1"
	rev, kv, err := b.Get(ctx, key, 0, false)
	if err != nil || kv == nil {
		t.Fatalf("get: %v %v", kv, err)
	}
	_, _, ok, err := b.Update(ctx, key, []byte("v2"), kv.ModRevision, 0)
	if err != nil || !ok {
		t.Fatalf("update at the current revision: ok=%v err=%v", ok, err)
	}
	_, _, ok, err = b.Update(ctx, key, []byte("v3"), kv.ModRevision, 0)
	if err != nil || ok {
		t.Fatalf("update at a stale revision: ok=%v err=%v, want a lost compare", ok, err)
	}
	_, kv, _ = b.Get(ctx, key, 0, false)
	if string(kv.Value) != "v2" {
		t.Fatalf("value %q after the updates, want v2", kv.Value)
	}
	if cur, _ := b.CurrentRevision(ctx); cur <= rev {
		t.Fatalf("current revision %d did not move past %d", cur, rev)
	}
}

func TestDatabaseFilesAreOnlyRootsToRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db", "state.db")
	b := startBackend(t, path)
	if _, err := b.Create(context.Background(), "/registry/secrets/default/s", []byte("secret"), 0); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), st.Mode().Perm())
		}
	}
}

func TestWritesSurviveAReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	_, b, err := drivers.New(ctx, &wg, &drivers.Config{Endpoint: Endpoint(path), CompactMinRetain: 1000, CompactBatchSize: 1000, PollBatchSize: 500, PollInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(context.Background(), "/registry/k", []byte("kept"), 0); err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()

	b = startBackend(t, path)
	_, kv, err := b.Get(context.Background(), "/registry/k", 0, false)
	if err != nil || kv == nil || string(kv.Value) != "kept" {
		t.Fatalf("after reopening: %v %v", kv, err)
	}
}

func TestCompactTarget(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var samples []revisionAt
	var target int64
	// Slow writes: nothing is older than HistoryAge yet.
	samples, target = compactTarget(samples, revisionAt{t0, 100})
	if target != 0 {
		t.Fatalf("target %d with no history older than %s", target, HistoryAge)
	}
	samples, _ = compactTarget(samples, revisionAt{t0.Add(HistoryAge / 2), 200})
	samples, target = compactTarget(samples, revisionAt{t0.Add(HistoryAge), 300})
	if target != 100 {
		t.Fatalf("target %d, want 100 (the revision %s ago)", target, HistoryAge)
	}
	// Older samples are dropped, the one that is the age kept.
	if len(samples) != 3 || samples[0].rev != 100 {
		t.Fatalf("samples %v", samples)
	}
	// Fast writes: the cap wins.
	_, target = compactTarget(samples, revisionAt{t0.Add(HistoryAge + time.Second), 300 + 5*MaxHistory})
	if target != 300+4*MaxHistory {
		t.Fatalf("target %d, want %d (MaxHistory back)", target, 300+4*MaxHistory)
	}
}

func TestCheckNamesWhatIsWrongWithAFile(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 1000)), 0o600)
	if err := Check(ctx, garbage, true, true); err == nil || !strings.Contains(err.Error(), "not an SQLite database") {
		t.Fatalf("garbage: %v", err)
	}

	good := filepath.Join(dir, "state.db")
	b := startBackend(t, good)
	for i := 0; i < 300; i++ {
		if _, err := b.Create(ctx, fmt.Sprintf("/registry/x/%d", i), []byte(strings.Repeat("v", 2000)), 0); err != nil {
			t.Fatal(err)
		}
	}
	backup := filepath.Join(dir, "backup.db")
	if err := Backup(ctx, good, backup); err != nil {
		t.Fatal(err)
	}
	if err := Check(ctx, backup, true, true); err != nil {
		t.Fatalf("a fresh backup: %v", err)
	}

	// Damage the backup past its header and schema: the thorough check
	// finds it.
	damaged := filepath.Join(dir, "damaged.db")
	data, _ := os.ReadFile(backup)
	for i := len(data) / 2; i < len(data)/2+8192; i++ {
		data[i] = 0xff
	}
	os.WriteFile(damaged, data, 0o600)
	if err := Check(ctx, damaged, true, true); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged: %v", err)
	}

	other := filepath.Join(dir, "other.db")
	db, _ := open(other, false)
	db.Exec("CREATE TABLE t (x)")
	db.Close()
	if err := Check(ctx, other, true, true); err == nil || !strings.Contains(err.Error(), "no kine table") {
		t.Fatalf("an SQLite file that is not kite's: %v", err)
	}
}

func TestBackupNeverOverwritesAndLeavesNothingOnFailure(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db := filepath.Join(dir, "state.db")
	b := startBackend(t, db)
	if _, err := b.Create(ctx, "/registry/k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "existing")
	os.WriteFile(existing, []byte("keep me"), 0o600)
	if err := Backup(ctx, db, existing); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("backup over a file: %v", err)
	}
	if got, _ := os.ReadFile(existing); string(got) != "keep me" {
		t.Fatal("the existing file was changed")
	}
	if err := Backup(ctx, db, filepath.Join(dir, "no", "such", "dir", "b.db")); err == nil {
		t.Fatal("backup into a missing folder succeeded")
	}
	dst := filepath.Join(dir, "b.db")
	if err := Backup(ctx, db, dst); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dst)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode %v, %v; want 0600", st.Mode(), err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*"))
	if len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func TestRestoreKeepsTheOldDatabaseAsideWithItsWAL(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db := filepath.Join(dir, "db", "state.db")
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	_, b, err := drivers.New(cctx, &wg, &drivers.Config{Endpoint: Endpoint(db), CompactMinRetain: 1000, CompactBatchSize: 1000, PollBatchSize: 500, PollInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(cctx); err != nil {
		t.Fatal(err)
	}
	b.Create(ctx, "/registry/in-backup", []byte("v"), 0)
	backup := filepath.Join(dir, "backup.db")
	if err := Backup(ctx, db, backup); err != nil {
		t.Fatal(err)
	}
	b.Create(ctx, "/registry/after-backup", []byte("v"), 0)
	cancel()
	wg.Wait()

	aside, restored, err := Restore(ctx, db, backup)
	if err != nil || !restored || aside == "" {
		t.Fatalf("restore: aside=%q restored=%v err=%v", aside, restored, err)
	}
	if _, err := os.Stat(db + "-wal"); err == nil {
		t.Fatal("the old WAL is still beside the restored database")
	}
	// Checking the backup left nothing beside it.
	if left, _ := filepath.Glob(backup + "?*"); len(left) > 0 {
		t.Fatalf("files made beside the backup: %v", left)
	}
	b2 := startBackend(t, db)
	if _, kv, _ := b2.Get(ctx, "/registry/in-backup", 0, false); kv == nil {
		t.Fatal("restored database lacks the backed-up key")
	}
	if _, kv, _ := b2.Get(ctx, "/registry/after-backup", 0, false); kv != nil {
		t.Fatal("restored database has a key written after the backup")
	}
	// The old database, with what it had, is intact aside.
	if err := Check(ctx, aside, true, true); err != nil {
		t.Fatalf("the database kept aside: %v", err)
	}
	b2.Create(ctx, "/registry/after-restore", []byte("v"), 0)

	// The same backup again (a flag left on a service): not restored, the
	// writes since are kept.
	if _, restored, err := Restore(ctx, db, backup); err != nil || restored {
		t.Fatalf("second restore of one backup: restored=%v err=%v", restored, err)
	}
	if _, kv, _ := b2.Get(ctx, "/registry/after-restore", 0, false); kv == nil {
		t.Fatal("a write after the restore is gone")
	}
}

func TestRestoreRefusesABadBackupAndChangesNothing(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db := filepath.Join(dir, "state.db")
	b := startBackend(t, db)
	b.Create(ctx, "/registry/k", []byte("v"), 0)
	bad := filepath.Join(dir, "bad.db")
	os.WriteFile(bad, []byte("garbage"), 0o600)
	before, _ := os.ReadDir(dir)
	if _, _, err := Restore(ctx, db, bad); err == nil || !strings.Contains(err.Error(), "not an SQLite database") {
		t.Fatalf("restore of garbage: %v", err)
	}
	after, _ := os.ReadDir(dir)
	if len(after) != len(before) {
		t.Fatalf("files before %d, after %d", len(before), len(after))
	}
}

// createBigRows creates n keys /registry/big/<i> of 16 kB each.
func createBigRows(t *testing.T, b server.Backend, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := b.Create(context.Background(), fmt.Sprintf("/registry/big/%d", i), []byte(strings.Repeat("x", 16<<10)), 0); err != nil {
			t.Fatal(err)
		}
	}
}

func TestShrinkGivesFreePagesBack(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	createBigRows(t, startBackend(t, path), 2000)
	db, err := open(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("DELETE FROM kine WHERE name LIKE '/registry/big/%'"); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	freePages := func() int64 {
		var n int64
		conn.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&n)
		return n
	}
	before := freePages()
	if before*4096 < shrinkAbove {
		t.Fatalf("only %d free pages after deleting 32 MB", before)
	}
	m := &maintainer{db: db, path: path}
	m.shrink(ctx, conn)
	if got := freePages(); got > before-shrinkStep+1 {
		t.Fatalf("free pages %d after shrinking, %d before", got, before)
	}
}

func TestAQuietDatastoreEmptiesItsWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	// ~3 MB of rows: past walQuietSize, under SQLite's own checkpoint
	// (1,000 pages), so the WAL file holds them.
	createBigRows(t, startBackend(t, path), 200)
	walSize := func() int64 {
		st, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	before := walSize()
	if before <= walQuietSize {
		t.Fatalf("the WAL is only %d bytes after 3 MB of writes", before)
	}
	db, err := open(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := &maintainer{db: db, path: path}

	m.checkpoint(ctx, conn, false)
	if got := walSize(); got != before {
		t.Fatalf("busy: WAL %d bytes after a look, %d before (nothing to do under 64 MB)", got, before)
	}
	m.checkpoint(ctx, conn, true)
	if got := walSize(); got != 0 {
		t.Fatalf("quiet: WAL %d bytes after a look, want it emptied", got)
	}
}

func TestQuietMeansFewWritesNotNone(t *testing.T) {
	for _, c := range []struct {
		last, now int64
		want      bool
	}{
		{0, 500, false},    // no earlier look
		{500, 500, true},   // nothing written
		{500, 503, true},   // leases renewed: a live cluster is never silent
		{500, 599, true},   // under quietWrites
		{500, 600, false},  // quietWrites or more: busy
		{500, 9000, false}, // churn
		{500, 0, false},    // revision unknown
	} {
		if got := isQuiet(c.last, c.now); got != c.want {
			t.Errorf("isQuiet(%d, %d) = %v, want %v", c.last, c.now, got, c.want)
		}
	}
}

// The writer's timings are recorded, and served from the registry the API
// server's /metrics serves: a write's batch, its wait for the write lock
// and its commit.
func TestWritesAreTimed(t *testing.T) {
	b := startBackend(t, filepath.Join(t.TempDir(), "state.db"))
	names := []string{"kite_sqlite_write_lock_wait_seconds", "kite_sqlite_commit_seconds", "kite_sqlite_batch_seconds", "kite_sqlite_batch_writes"}
	count := func(name string) uint64 {
		families, err := legacyregistry.DefaultGatherer.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == name && len(f.GetMetric()) == 1 {
				return f.GetMetric()[0].GetHistogram().GetSampleCount()
			}
		}
		t.Fatalf("%s is not served", name)
		return 0
	}
	before := make([]uint64, len(names))
	for i, n := range names {
		before[i] = count(n)
	}
	if _, err := b.Create(context.Background(), "/registry/configmaps/default/timed", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		if got := count(n); got <= before[i] {
			t.Errorf("%s: %d observations after a write, %d before", n, got, before[i])
		}
	}
}
