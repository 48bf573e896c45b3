package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// apiload is test/bench/apiload, the benchmark's API load generator.
func apiload(t *testing.T) string { return benchTool(t, "apiload") }

// load runs apiload against srv in the lab until it ends or ctx does.
type load struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

func startLoad(t *testing.T, ctx context.Context, srv *server, args ...string) *load {
	t.Helper()
	l := &load{done: make(chan error, 1)}
	l.cmd = srv.command(apiload(t), append([]string{"-kubeconfig", srv.kubeconfig}, args...)...)
	l.cmd.Stdout, l.cmd.Stderr = &l.out, &l.out
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		select {
		case <-ctx.Done():
			l.cmd.Process.Kill()
		case <-l.done:
		}
	}()
	go func() { err := l.cmd.Wait(); l.done <- err; close(l.done) }()
	return l
}

// stop ends the load at once (its server is gone: what it acknowledged
// is in the acked file) and waits for it.
func (l *load) stop() {
	l.cmd.Process.Kill()
	<-l.done
}

func (l *load) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-l.done:
		return err
	case <-time.After(timeout):
		l.cmd.Process.Kill()
		t.Fatalf("apiload still running after %v:\n%s", timeout, l.out.String())
		return nil
	}
}

// startControlPlane starts kite server --disable-agent on a fresh data dir
// and waits until it is ready.
func startControlPlane(t *testing.T) *server {
	t.Helper()
	srv := startServer(t, t.TempDir(), filepath.Join(t.TempDir(), "kite.yaml"), "--disable-agent")
	srv.waitReady()
	return srv
}

// createUntil has 16 clients create ConfigMaps on srv until ctx ends, and
// returns once n creates are acknowledged; acked lists every acknowledged
// name.
func createUntil(t *testing.T, ctx context.Context, srv *server, n int) (l *load, acked string) {
	t.Helper()
	acked = filepath.Join(t.TempDir(), "acked")
	l = startLoad(t, ctx, srv, "create", "-clients", "16", "-objects", "1000000", "-acked", acked)
	eventually(t, 2*time.Minute, fmt.Sprintf("%d acknowledged creates", n), func() error {
		if got := countLines(acked); got < n {
			return fmt.Errorf("%d so far", got)
		}
		return nil
	})
	return l, acked
}

func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
	}
	return n
}

// configMapNames lists the ConfigMaps of namespace apiload.
func configMapNames(t *testing.T, srv *server) map[string]bool {
	t.Helper()
	out := srv.mustKubectl(t, "-n", "apiload", "get", "configmaps", "-o", "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}")
	names := map[string]bool{}
	for _, n := range strings.Fields(out) {
		names[n] = true
	}
	return names
}

// TestDatastoreKeepsEveryAcknowledgedWrite kills kite with SIGKILL while 16
// clients create ConfigMaps, and looks for every create the API server
// acknowledged after the restart.
func TestDatastoreKeepsEveryAcknowledgedWrite(t *testing.T) {
	apiload(t)
	srv := startControlPlane(t)
	dataDir, kubeconfig := srv.dataDir, srv.kubeconfig

	acked, want := killUnderLoad(t, srv)

	srv = startServer(t, dataDir, kubeconfig, "--disable-agent")
	srv.waitReady()
	assertAllAcked(t, srv, acked, want)
}

// killUnderLoad kills srv with SIGKILL once 16 clients have 2,000
// acknowledged creates, and returns the file of acknowledged names and
// their count.
func killUnderLoad(t *testing.T, srv *server) (acked string, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, acked := createUntil(t, ctx, srv, 2000)
	srv.stop(syscall.SIGKILL)
	l.stop()
	return acked, countLines(acked)
}

// assertAllAcked checks that every ConfigMap named in the file acked (want
// lines) is in srv.
func assertAllAcked(t *testing.T, srv *server, acked string, want int) {
	t.Helper()
	got := configMapNames(t, srv)
	f, err := os.Open(acked)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	missing := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if !got[sc.Text()] {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged ConfigMap %s is gone after kill -9", sc.Text())
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged creates lost", missing, want)
	}
	t.Logf("all %d acknowledged creates kept (%d ConfigMaps stored)", want, len(got))
}

// TestDatastoreStaysSmallUnderChurn updates 1,000 ConfigMaps over and over
// (and creates and deletes Leases) and checks that compaction and the WAL
// checkpoints keep the files bounded (the full 1M-update run is in
// scripts/bench-datastore).
func TestDatastoreStaysSmallUnderChurn(t *testing.T) {
	apiload(t)
	srv := startControlPlane(t)
	dataDir := srv.dataDir

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const updates = 60000
	l := startLoad(t, ctx, srv, "churn", "-clients", "16", "-keys", "1000", "-updates", fmt.Sprint(updates), "-cycle-every", "10")
	db := filepath.Join(dataDir, "server", "db", "state.db")
	size := func(p string) int64 {
		st, err := os.Stat(p)
		if err != nil {
			return 0
		}
		return st.Size()
	}
	var peakDB, peakWAL int64
	for running := true; running; {
		select {
		case err := <-l.done:
			if err != nil {
				t.Fatalf("churn: %v\n%s", err, l.out.String())
			}
			running = false
		case <-time.After(time.Second):
		}
		peakDB = max(peakDB, size(db))
		peakWAL = max(peakWAL, size(db+"-wal"))
	}
	t.Logf("churn: %s", strings.TrimSpace(l.out.String()))
	// ~1.2 kB a row (the value and the previous value): without
	// compaction the updates alone would need ~80 MB. Kept: the latest
	// 10,000 revisions at most, and the 1,000 objects.
	const limit = 40 << 20
	if peakDB > limit {
		t.Errorf("state.db reached %d MB during the churn, want at most %d", peakDB>>20, limit>>20)
	}
	if peakWAL > 80<<20 {
		t.Errorf("the WAL reached %d MB during the churn", peakWAL>>20)
	}
	// Once the churn stops the WAL is checkpointed and emptied.
	eventually(t, time.Minute, "WAL emptied", func() error {
		if s := size(db + "-wal"); s > 1<<20 {
			return fmt.Errorf("WAL %d kB", s>>10)
		}
		return nil
	})
	t.Logf("peak state.db %d MB, WAL %d MB; after: %d MB, %d MB", peakDB>>20, peakWAL>>20, size(db)>>20, size(db+"-wal")>>20)
}

// TestDatastoreBackupAndRestore backs up a running server while clients
// write, restores the backup into the stopped server and compares.
func TestDatastoreBackupAndRestore(t *testing.T) {
	apiload(t)
	srv := startControlPlane(t)
	dataDir, kubeconfig := srv.dataDir, srv.kubeconfig

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, acked := createUntil(t, ctx, srv, 1000)
	// Everything acknowledged before the backup starts must be in it.
	before := countLines(acked)
	backup := filepath.Join(t.TempDir(), "kite.backup")
	out, err := srv.kite("datastore", "backup", "--data-dir", dataDir, backup)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "kite server --datastore-restore "+backup) {
		t.Errorf("backup output does not say how to restore: %q", out)
	}
	assertMode(t, backup, 0o600)
	cancel()
	l.wait(t, time.Minute)
	srv.mustKubectl(t, "-n", "apiload", "create", "configmap", "after-backup")
	stored := configMapNames(t, srv)

	// Backing up over a file, or to a full disk, fails and changes nothing;
	// the server keeps serving.
	code, out := runKite(t, "datastore", "backup", "--data-dir", dataDir, backup)
	assertFailed(t, code, out, backup, "already exists")
	full := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", full).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	defer exec.Command("umount", full).Run()
	code, out = runKite(t, "datastore", "backup", "--data-dir", dataDir, filepath.Join(full, "b"))
	assertFailed(t, code, out, "full")
	if left, _ := os.ReadDir(full); len(left) != 0 {
		t.Errorf("a failed backup left %d files on the full disk", len(left))
	}
	if out := srv.mustKubectl(t, "get", "--raw", "/readyz"); strings.TrimSpace(out) != "ok" {
		t.Fatalf("/readyz after the failed backups: %q", out)
	}

	srv.stop(syscall.SIGTERM)
	srv = startServer(t, dataDir, kubeconfig, "--disable-agent", "--datastore-restore", backup)
	srv.waitReady()
	restored := configMapNames(t, srv)
	f, _ := os.Open(acked)
	sc := bufio.NewScanner(f)
	for i := 0; i < before && sc.Scan(); i++ {
		if !restored[sc.Text()] {
			t.Errorf("%s, acknowledged before the backup, is not in the restored datastore", sc.Text())
		}
	}
	f.Close()
	if restored["after-backup"] {
		t.Error("a ConfigMap made after the backup is in the restored datastore")
	}
	for name := range restored {
		if !stored[name] {
			t.Errorf("restored %s, which the server never had", name)
		}
	}
	aside, _ := filepath.Glob(filepath.Join(dataDir, "server", "db", "state.db.old-*"))
	if len(aside) == 0 {
		t.Fatal("the old database was not kept aside")
	}
	t.Logf("backup taken after %d acknowledged creates; restored %d ConfigMaps of %d", before, len(restored), len(stored))

	// The flag left on the command line: the next start does not restore
	// again, so what was written since stays.
	srv.mustKubectl(t, "-n", "apiload", "create", "configmap", "after-restore")
	srv.stop(syscall.SIGTERM)
	srv = startServer(t, dataDir, kubeconfig, "--disable-agent", "--datastore-restore", backup)
	srv.waitReady()
	if !configMapNames(t, srv)["after-restore"] {
		t.Fatal("a restart with the same --datastore-restore undid the writes made since the restore")
	}
	if !strings.Contains(srv.stderr.String(), "not restoring it again") {
		t.Error("the second start does not say it skipped the restore")
	}
}

// TestDatastoreBadFiles: a damaged backup or database is one clear error
// naming the file, and nothing is changed.
func TestDatastoreBadFiles(t *testing.T) {
	srv := startControlPlane(t)
	dataDir, kubeconfig := srv.dataDir, srv.kubeconfig
	srv.stop(syscall.SIGTERM)

	junk := filepath.Join(t.TempDir(), "junk.backup")
	os.WriteFile(junk, bytes.Repeat([]byte("junk"), 4096), 0o600)
	before := snapshot(t, dataDir)
	code, out := runKite(t, "server", "--data-dir", dataDir, "--write-kubeconfig", kubeconfig, "--disable-agent", "--datastore-restore", junk)
	assertFailed(t, code, out, junk, "not an SQLite database", "--datastore-restore")
	code, out = runKite(t, "server", "--data-dir", dataDir, "--write-kubeconfig", kubeconfig, "--disable-agent", "--datastore-restore", junk+".missing")
	assertFailed(t, code, out, junk+".missing", "--datastore-restore")
	assertUnchanged(t, before, snapshot(t, dataDir))

	// A database overwritten with junk: the server says which file and
	// what to do, and leaves it as it is.
	db := filepath.Join(dataDir, "server", "db", "state.db")
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(db + suffix)
	}
	os.WriteFile(db, bytes.Repeat([]byte("junk"), 4096), 0o600)
	before = snapshot(t, dataDir)
	code, out = runKite(t, "server", "--data-dir", dataDir, "--write-kubeconfig", kubeconfig, "--disable-agent")
	assertFailed(t, code, out, db, "--datastore-restore")
	if got, _ := os.ReadFile(db); !bytes.Equal(got, bytes.Repeat([]byte("junk"), 4096)) {
		t.Error("the damaged database was changed")
	}
	code, out = runKite(t, "datastore", "backup", "--data-dir", dataDir, filepath.Join(t.TempDir(), "b"))
	assertFailed(t, code, out, db, "not an SQLite database")
}
