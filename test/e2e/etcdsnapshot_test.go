package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEtcdSnapshots: a server on embedded etcd takes scheduled snapshots
// (compressed, pruned to the retention) and on-demand ones (kite
// etcd-snapshot save, ls, delete, prune), lists them in the API, and
// --cluster-reset --cluster-reset-restore-path brings the cluster back to
// a snapshot: in place (the pod is adopted), and on a fresh data dir with
// the server token alone. A damaged snapshot, or a wrong token, is refused
// with nothing changed.
func TestEtcdSnapshots(t *testing.T) {
	dataDir := withBusybox(t, t.TempDir())
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	t.Cleanup(func() { killall(t, dataDir) })
	disable := []string{"--disable", "coredns,metrics-server,helm-controller,servicelb,local-storage"}
	srv := startServer(t, dataDir, kubeconfig, append([]string{"--cluster-init",
		"--etcd-snapshot-schedule-cron", "@every 3s", "--etcd-snapshot-retention", "2", "--etcd-snapshot-compress"}, disable...)...)
	srv.waitReady()
	apply(t, srv, etcdPod)
	podUID := waitPodRunning(t, srv, "on-etcd")
	srv.mustKubectl(t, "create", "configmap", "kept", "--from-literal=k=before")
	eventually(t, time.Minute, "bootstrap data stored in etcd", func() error {
		if !strings.Contains(srv.stderr.String(), "stored the cluster's bootstrap data in etcd") {
			return fmt.Errorf("not yet")
		}
		return nil
	})

	snapDir := filepath.Join(dataDir, "server", "db", "snapshots")
	out, err := srv.kite("etcd-snapshot", "save", "--name", "before-change")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`saved (\S+) `).FindStringSubmatch(out)
	if m == nil || filepath.Dir(m[1]) != snapDir || !strings.HasPrefix(filepath.Base(m[1]), "before-change-") {
		t.Fatalf("kite etcd-snapshot save said %q", out)
	}
	file, name := m[1], filepath.Base(m[1])
	assertMode(t, file, 0o600)
	if out, err := srv.kite("etcd-snapshot", "ls"); err != nil || !strings.Contains(out, name) {
		t.Errorf("kite etcd-snapshot ls does not list %s: %v\n%s", name, err, out)
	}
	waitSnapshotListed(t, srv, name, true)

	// Scheduled: every 3 s, gzip'd, the newest 2 kept.
	eventually(t, time.Minute, "two scheduled snapshots", func() error {
		if n := len(scheduled(t, snapDir)); n != 2 {
			return fmt.Errorf("%d scheduled snapshots", n)
		}
		return nil
	})
	first := scheduled(t, snapDir)[0]
	eventually(t, time.Minute, "the oldest scheduled snapshot pruned", func() error {
		s := scheduled(t, snapDir)
		if len(s) > 2 {
			return fmt.Errorf("%d scheduled snapshots kept, retention is 2: %v", len(s), s)
		}
		if slices.Contains(s, first) {
			return fmt.Errorf("%s still there", first)
		}
		return nil
	})
	for _, s := range scheduled(t, snapDir) {
		if !strings.HasSuffix(s, ".gz") {
			t.Errorf("scheduled snapshot %s is not compressed", s)
		}
	}

	// delete and prune
	out, err = srv.kite("etcd-snapshot", "save", "--name", "scratch")
	if err != nil {
		t.Fatal(err)
	}
	scratch := filepath.Base(regexp.MustCompile(`saved (\S+) `).FindStringSubmatch(out)[1])
	waitSnapshotListed(t, srv, scratch, true)
	if _, err := srv.kite("etcd-snapshot", "delete", scratch); err != nil {
		t.Fatal(err)
	}
	assertAbsent(t, filepath.Join(snapDir, scratch))
	waitSnapshotListed(t, srv, scratch, false)
	if _, err := srv.kite("etcd-snapshot", "delete", "no-such-snapshot"); err == nil || !strings.Contains(err.Error(), `no snapshot "no-such-snapshot"`) {
		t.Errorf("delete of a missing snapshot: %v", err)
	}
	for range 2 {
		if _, err := srv.kite("etcd-snapshot", "save", "--name", "p"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // names hold the second
	}
	if out, err := srv.kite("etcd-snapshot", "prune", "--name", "p", "--snapshot-retention", "1"); err != nil || strings.Count(out, "deleted p-") != 1 {
		t.Errorf("prune: %v %q", err, out)
	}
	if p, _ := filepath.Glob(filepath.Join(snapDir, "p-*")); len(p) != 1 {
		t.Errorf("after prune to 1: %v", p)
	}

	// Changes after the snapshot, which the restore undoes.
	srv.mustKubectl(t, "patch", "configmap", "kept", "-p", `{"data":{"k":"after"}}`)
	srv.mustKubectl(t, "create", "configmap", "added-later")
	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("kite server exit code %d after SIGTERM", code)
	}

	// A truncated snapshot is refused, nothing changed.
	server := filepath.Join(dataDir, "server")
	before := snapshot(t, server)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), "truncated")
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	restore := func(dir, snap string, extra ...string) (int, string) {
		return runKite(t, append([]string{"server", "--cluster-reset", "--cluster-reset-restore-path", snap, "--data-dir", dir,
			"--write-kubeconfig", filepath.Join(t.TempDir(), "k.yaml")}, extra...)...)
	}
	code, out := restore(dataDir, truncated)
	assertFailed(t, code, out, "is not a whole etcd snapshot", "nothing was changed")
	assertUnchanged(t, before, snapshot(t, server))

	// Restore in place: the snapshot's objects are back, the pod adopted.
	code, out = restore(dataDir, file)
	if code != 0 || !strings.Contains(out, "holding the snapshot") {
		t.Fatalf("restore: exit %d\n%s", code, tail(out, 3000))
	}
	if old, _ := filepath.Glob(filepath.Join(server, "db", "etcd.old-*")); len(old) != 1 {
		t.Errorf("the old etcd data is not kept aside: %v", old)
	}
	srv = startServer(t, dataDir, kubeconfig, disable...)
	srv.waitReady()
	if v := srv.mustKubectl(t, "get", "configmap", "kept", "-o", "jsonpath={.data.k}"); v != "before" {
		t.Errorf("configmap kept after the restore: %q, want the snapshot's %q", v, "before")
	}
	if _, err := srv.kubectl("get", "configmap", "added-later"); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("configmap added-later, made after the snapshot, is there after the restore: %v", err)
	}
	if uid := waitPodRunning(t, srv, "on-etcd"); uid != podUID {
		t.Errorf("pod on-etcd is a new one after the restore (%s, was %s)", uid, podUID)
	}
	tokenFile, err := os.ReadFile(filepath.Join(server, "token"))
	if err != nil {
		t.Fatal(err)
	}
	fullToken := strings.TrimSpace(string(tokenFile))
	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("kite server exit code %d after SIGTERM", code)
	}

	// A fresh data dir: a wrong token is refused before anything is
	// written; the server token restores it, CAs and all.
	fresh := t.TempDir()
	hash, _, _ := strings.Cut(fullToken, "::")
	code, out = restore(fresh, file, "--token", hash+"::server:not-the-secret")
	assertFailed(t, code, out, "the server token does not open the snapshot")
	for _, p := range []string{"server/tls", "server/db", "server/token"} {
		assertAbsent(t, filepath.Join(fresh, p))
	}
	// A data dir of another cluster (its own server CA) is refused, even
	// with the right token.
	other := t.TempDir()
	otherCA := filepath.Join(other, "server", "tls", "server-ca.crt")
	if err := os.MkdirAll(filepath.Dir(otherCA), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherCA, []byte("another cluster's CA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before = snapshot(t, other)
	code, out = restore(other, file, "--token", fullToken)
	assertFailed(t, code, out, "belongs to another cluster than the snapshot", "nothing was changed")
	assertUnchanged(t, before, snapshot(t, other))

	code, out = restore(fresh, file, "--token", fullToken)
	if code != 0 {
		t.Fatalf("restore on a fresh data dir: exit %d\n%s", code, tail(out, 3000))
	}
	for _, f := range []string{"server-ca.crt", "server-ca.key", "etcd-peer-ca.key", "service-account.key"} {
		a, _ := os.ReadFile(filepath.Join(server, "tls", f))
		b, err := os.ReadFile(filepath.Join(fresh, "server", "tls", f))
		if err != nil || string(a) != string(b) {
			t.Errorf("%s on the fresh data dir is not the cluster's: %v", f, err)
		}
	}
	assertMode(t, filepath.Join(fresh, "server", "tls", "server-ca.key"), 0o600)
	kc2 := filepath.Join(t.TempDir(), "kite.yaml")
	srv2 := startServer(t, fresh, kc2, append([]string{"--disable-agent"}, disable...)...)
	t.Cleanup(func() { killall(t, fresh) })
	srv2.waitReady()
	if v := srv2.mustKubectl(t, "get", "configmap", "kept", "-o", "jsonpath={.data.k}"); v != "before" {
		t.Errorf("configmap kept on the fresh restore: %q, want %q", v, "before")
	}
	if code := srv2.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("kite server exit code %d after SIGTERM", code)
	}
}

// scheduled lists the scheduled snapshots in dir, oldest first.
func scheduled(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "etcd-snapshot-") {
			out = append(out, e.Name())
		}
	}
	return out // names end in the time: sorted is oldest first
}

// waitSnapshotListed waits until kubectl lists the snapshot as an
// ETCDSnapshotFile, or no longer does.
func waitSnapshotListed(t *testing.T, srv *server, name string, listed bool) {
	t.Helper()
	eventually(t, time.Minute, "ETCDSnapshotFile "+name, func() error {
		out, err := srv.kubectl("get", "etcdsnapshotfiles", "-o", "jsonpath={.items[*].spec.snapshotName}")
		if err != nil {
			return err
		}
		if slices.Contains(strings.Fields(out), name) != listed {
			return fmt.Errorf("listed %v, want %v: %s", !listed, listed, out)
		}
		return nil
	})
}
