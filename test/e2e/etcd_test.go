package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var etcdPod = sleepPod("on-etcd", "default")

// TestEmbeddedEtcd: kite server --cluster-init keeps the cluster in
// embedded etcd (not kine, not SQLite), which takes only etcd's own client
// certificates; a pod runs on it; the scheduler and the controller
// manager, elected here, outlive a lost lease (checkLostLeases); every
// write acknowledged before a kill -9 is there after a restart without the
// flag, and the pod is still running.
func TestEmbeddedEtcd(t *testing.T) {
	apiload(t)
	dataDir := withBusybox(t, t.TempDir())
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	t.Cleanup(func() { killall(t, dataDir) })
	srv := startServer(t, dataDir, kubeconfig, "--cluster-init", "--disable", "metrics-server,helm-controller,servicelb")
	srv.waitReady()

	server := filepath.Join(dataDir, "server")
	for _, p := range []string{"db/etcd/member/wal", "db/etcd/member/snap/db"} {
		if _, err := os.Stat(filepath.Join(server, p)); err != nil {
			t.Errorf("etcd's data is not in the data dir: %v", err)
		}
	}
	assertAbsent(t, filepath.Join(server, "db", "state.db"))
	assertAbsent(t, filepath.Join(server, "kine.sock"))
	for _, key := range []string{"etcd-server-ca", "etcd-peer-ca", "etcd-server", "etcd-peer", "etcd-client"} {
		if st, err := os.Stat(filepath.Join(server, "tls", key+".key")); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("etcd key %s: %v %v, want mode 0600", key, st, err)
		}
	}
	if out := srv.mustKubectl(t, "get", "--raw", "/readyz/etcd"); out != "ok" {
		t.Errorf("/readyz/etcd: %q", out)
	}
	checkEtcdTakesOnlyItsClients(t, dataDir)

	apply(t, srv, etcdPod)
	podUID := waitPodRunning(t, srv, "on-etcd")
	checkLostLeases(t, srv)

	// 'kite datastore backup' is SQLite's; it says so.
	if out, err := srv.kite("datastore", "backup", filepath.Join(t.TempDir(), "b.db")); err == nil || !strings.Contains(err.Error(), "keeps its cluster in embedded etcd") {
		t.Errorf("kite datastore backup on an etcd server: %v %s", err, out)
	}

	acked, want := killUnderLoad(t, srv)
	// etcd's lines, and the API server's etcd client's, are in the one
	// stream.
	assertLogStream(t, "text", srv.stderr.String(), "etcd", "apiserver", "kubelet")

	// No --cluster-init: the etcd data dir says what the datastore is.
	srv = startServer(t, dataDir, kubeconfig, "--disable", "metrics-server,helm-controller,servicelb")
	srv.waitReady()
	if !strings.Contains(srv.stderr.String(), "datastore (embedded etcd)") {
		t.Error("the restarted server does not say it uses embedded etcd")
	}
	assertAbsent(t, filepath.Join(server, "db", "state.db"))
	assertAllAcked(t, srv, acked, want)
	if uid := waitPodRunning(t, srv, "on-etcd"); uid != podUID {
		t.Errorf("pod on-etcd is a new one after the restart (%s, was %s)", uid, podUID)
	}
	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("kite server exit code %d after SIGTERM", code)
	}
	assertLogStream(t, "text", srv.stderr.String(), "etcd", "apiserver")
}

// waitPodRunning waits for the default namespace's pod name to run, and
// returns its UID.
func waitPodRunning(t *testing.T, srv *server, name string) string {
	t.Helper()
	var uid string
	eventually(t, 2*time.Minute, "pod "+name+" Running", func() error {
		out, err := srv.kubectl("get", "pod", name, "-o", "jsonpath={.status.phase} {.metadata.uid}")
		if err != nil {
			return err
		}
		phase, id, _ := strings.Cut(out, " ")
		if phase != "Running" {
			return fmt.Errorf("phase %q", phase)
		}
		uid = id
		return nil
	})
	return uid
}

// checkEtcdTakesOnlyItsClients calls etcd's /health at the node's address
// with etcd's client certificate (answered), with none, with the
// administrator's Kubernetes certificate and with the node's (refused).
func checkEtcdTakesOnlyItsClients(t *testing.T, dataDir string) {
	t.Helper()
	tlsDir := filepath.Join(dataDir, "server", "tls")
	ns, addr := "/run/netns/"+theLab.node, net.JoinHostPort(labNodeIP, "2379")
	if out, err := etcdRequest(t, ns, addr, tlsDir, etcdClientCert(t, tlsDir), "/health", ""); err != nil || !strings.Contains(out, `"health":"true"`) {
		t.Errorf("etcd /health with etcd's client certificate: %v %q", err, out)
	}
	for who, certs := range map[string][]tls.Certificate{
		"no certificate":                 nil,
		"the administrator's":            loadKeyPair(t, filepath.Join(tlsDir, "client-admin.crt"), filepath.Join(tlsDir, "client-admin.key")),
		"the node's kubelet certificate": loadKeyPair(t, filepath.Join(dataDir, "agent", "tls", "kubelet-client.crt"), filepath.Join(dataDir, "agent", "tls", "kubelet-client.key")),
	} {
		if out, err := etcdRequest(t, ns, addr, tlsDir, certs, "/health", ""); err == nil {
			t.Errorf("etcd answered a client with %s: %q", who, out)
		}
	}
}

func loadKeyPair(t *testing.T, cert, key string) []tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return []tls.Certificate{c}
}

// etcdClientCert is a server's etcd client certificate, from its TLS
// folder.
func etcdClientCert(t *testing.T, tlsDir string) []tls.Certificate {
	return loadKeyPair(t, filepath.Join(tlsDir, "etcd-client.crt"), filepath.Join(tlsDir, "etcd-client.key"))
}

// etcdRequest calls etcd at addr, from the network namespace at nsPath,
// trusting the etcd server CA of tlsDir and presenting certs: a GET of
// path, or a POST of body (etcd's JSON gateway, /v3/...). It returns the
// body of a 200.
func etcdRequest(t *testing.T, nsPath, addr, tlsDir string, certs []tls.Certificate, path, body string) (string, error) {
	t.Helper()
	roots := x509.NewCertPool()
	ca, err := os.ReadFile(filepath.Join(tlsDir, "etcd-server-ca.crt"))
	if err != nil || !roots.AppendCertsFromPEM(ca) {
		t.Fatalf("etcd server CA: %v", err)
	}
	host, _, _ := net.SplitHostPort(addr)
	conn, err := inNetns(nsPath, func() (*tls.Conn, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		return tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: roots, Certificates: certs, ServerName: host})
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: etcd\r\nConnection: close\r\n\r\n"
	if body != "" {
		req = fmt.Sprintf("POST %s HTTP/1.1\r\nHost: etcd\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
	}
	if _, err := io.WriteString(conn, req); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, out)
	}
	return string(out), err
}

// TestEmbeddedEtcdBadInput: a busy etcd port, --cluster-init on a server
// whose SQLite database is damaged, --cluster-init with a SQLite backup to
// restore: each stops the start with one clear error, before any file is
// written.
func TestEmbeddedEtcdBadInput(t *testing.T) {
	ln, err := listenIn("/run/netns/"+theLab.node, net.JoinHostPort(labNodeIP, "2380"))
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	code, out := runKite(t, "server", "--cluster-init", "--data-dir", dataDir, "--write-kubeconfig", filepath.Join(t.TempDir(), "k.yaml"))
	ln.Close()
	assertFailed(t, code, out, "etcd peer port "+labNodeIP+":2380 is already in use")
	for _, p := range []string{"server/tls", "server/db/etcd"} {
		assertAbsent(t, filepath.Join(dataDir, p))
	}

	// --cluster-init on a SQLite server whose database is damaged: the move
	// into etcd does not start.
	dataDir = t.TempDir()
	db := filepath.Join(dataDir, "server", "db", "state.db")
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = runKite(t, "server", "--cluster-init", "--data-dir", dataDir, "--write-kubeconfig", filepath.Join(t.TempDir(), "k.yaml"))
	assertFailed(t, code, out, db+" is not an SQLite database")
	for _, p := range []string{"server/tls", "server/db/etcd"} {
		assertAbsent(t, filepath.Join(dataDir, p))
	}

	code, out = runKite(t, "server", "--cluster-init", "--datastore-restore", db, "--data-dir", t.TempDir())
	assertFailed(t, code, out, "--cluster-init and --datastore-restore cannot be used together")

	// A first server that cannot be reached: the joining server retries,
	// says so, and has written nothing when stopped.
	dataDir = t.TempDir()
	joining := startKite(t, theLab.command, "never", dataDir, filepath.Join(t.TempDir(), "k.yaml"), "server", "--data-dir", dataDir,
		"--write-kubeconfig", filepath.Join(t.TempDir(), "k.yaml"), "--server", "https://198.18.0.99:6443",
		"--token", "K10"+strings.Repeat("a", 64)+"::server:secret")
	eventually(t, time.Minute, "the joining server's retry messages", func() error {
		if n := strings.Count(joining.stderr.String(), "cannot reach the server; retrying"); n < 2 {
			return fmt.Errorf("%d so far", n)
		}
		return nil
	})
	joining.stop(syscall.SIGTERM)
	for _, p := range []string{"server/tls", "server/db/etcd", "server/token"} {
		assertAbsent(t, filepath.Join(dataDir, p))
	}
}

// TestEtcdMigration: a SQLite server restarted with --cluster-init moves
// its objects into etcd (same content, same relative order of resource
// versions), keeps the SQLite file aside, and its pod keeps running.
func TestEtcdMigration(t *testing.T) {
	dataDir := withBusybox(t, t.TempDir())
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	t.Cleanup(func() { killall(t, dataDir) })
	disable := []string{"--disable", "coredns,metrics-server,helm-controller,servicelb,local-storage"}
	srv := startServer(t, dataDir, kubeconfig, disable...)
	srv.waitReady()
	apply(t, srv, etcdPod)
	podUID := waitPodRunning(t, srv, "on-etcd")
	// first is changed last: its resource version must stay the newest.
	srv.mustKubectl(t, "create", "configmap", "first", "--from-literal=k=v1")
	srv.mustKubectl(t, "create", "configmap", "second", "--from-literal=k=v1")
	srv.mustKubectl(t, "create", "secret", "generic", "s", "--from-literal=password=kept")
	srv.mustKubectl(t, "patch", "configmap", "first", "-p", `{"data":{"k":"v2"}}`)
	before := srv.mustKubectl(t, "get", "configmaps,secrets,pods,nodes,namespaces", "-A", "-o", "jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}/{.metadata.uid} {end}")
	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}

	srv = startServer(t, dataDir, kubeconfig, append([]string{"--cluster-init"}, disable...)...)
	srv.waitReady()
	if !strings.Contains(srv.stderr.String(), "moved the cluster from SQLite into etcd") {
		t.Error("the server does not say it moved the cluster")
	}
	db := filepath.Join(dataDir, "server", "db")
	if _, err := os.Stat(filepath.Join(db, "state.db.migrated")); err != nil {
		t.Errorf("the SQLite file is not kept aside: %v", err)
	}
	if _, err := os.Stat(filepath.Join(db, "state.db")); !os.IsNotExist(err) {
		t.Errorf("state.db is still in place after the move: %v", err)
	}
	after := srv.mustKubectl(t, "get", "configmaps,secrets,pods,nodes,namespaces", "-A", "-o", "jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}/{.metadata.uid} {end}")
	for _, obj := range strings.Fields(before) {
		if !strings.Contains(after, obj) {
			t.Errorf("%s is not in etcd after the move", obj)
		}
	}
	if out := srv.mustKubectl(t, "get", "configmap", "first", "-o", "jsonpath={.data.k}"); out != "v2" {
		t.Errorf("configmap first has k=%q after the move, want v2", out)
	}
	if out := srv.mustKubectl(t, "get", "secret", "s", "-o", "jsonpath={.data.password}"); out != "a2VwdA==" {
		t.Errorf("secret s has password %q after the move", out)
	}
	rv := func(name string) int {
		out := srv.mustKubectl(t, "get", "configmap", name, "-o", "jsonpath={.metadata.resourceVersion}")
		n, err := strconv.Atoi(out)
		if err != nil {
			t.Fatalf("resourceVersion of %s: %q", name, out)
		}
		return n
	}
	if first, second := rv("first"), rv("second"); first <= second {
		t.Errorf("resource versions out of order after the move: first (changed last) %d, second %d", first, second)
	}
	if uid := waitPodRunning(t, srv, "on-etcd"); uid != podUID {
		t.Errorf("pod on-etcd is a new one after the move (%s, was %s)", uid, podUID)
	}
	// The cluster takes writes.
	srv.mustKubectl(t, "create", "configmap", "after-move")
	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}

	// A move cut short (killed before the SQLite file was put aside)
	// leaves an etcd data dir beside state.db: the next start drops that
	// etcd copy and moves the cluster again, from SQLite. Made here by
	// putting the SQLite file back: the etcd-only configmap must go.
	if err := os.Rename(filepath.Join(db, "state.db.migrated"), filepath.Join(db, "state.db")); err != nil {
		t.Fatal(err)
	}
	srv = startServer(t, dataDir, kubeconfig, disable...)
	srv.waitReady()
	if !strings.Contains(srv.stderr.String(), "removing the etcd data of a move from SQLite that was cut short") {
		t.Error("the server does not say it drops the etcd copy of a move cut short")
	}
	if _, err := srv.kubectl("get", "configmap", "after-move"); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("configmap after-move, only in the dropped etcd copy, is there: %v", err)
	}
	if out := srv.mustKubectl(t, "get", "configmap", "first", "-o", "jsonpath={.data.k}"); out != "v2" {
		t.Errorf("configmap first has k=%q after the second move, want v2", out)
	}
	if uid := waitPodRunning(t, srv, "on-etcd"); uid != podUID {
		t.Errorf("pod on-etcd is a new one after the second move (%s, was %s)", uid, podUID)
	}
	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}
