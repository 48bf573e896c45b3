package e2e

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServerLifecycle is a user's first hour with the control plane (no
// node: TestNode covers the agent): start, use the API, see the
// controller-manager and the scheduler work, stop, start again, find the
// objects and the CA unchanged. Bad input that needs a running or an
// initialised server is tried on the way.
func TestServerLifecycle(t *testing.T) {
	dataDir := t.TempDir()
	kubeconfig := filepath.Join(t.TempDir(), "etc", "kite.yaml")
	srv := startServer(t, dataDir, kubeconfig, "--disable-agent")
	srv.waitReady()

	for _, f := range []string{
		"server/token", "server/tls/server-ca.key", "server/tls/client-ca.key",
		"server/tls/request-header-ca.key", "server/tls/service-account.key",
		"server/tls/client-admin.key", "server/tls/serving-kube-apiserver.key",
	} {
		assertMode(t, filepath.Join(dataDir, f), 0o600)
	}
	assertMode(t, kubeconfig, 0o600)
	if _, err := os.Stat(filepath.Join(dataDir, "server/db/state.db")); err != nil {
		t.Fatalf("SQLite database not where documented: %v", err)
	}
	// It holds the cluster's Secrets.
	assertMode(t, filepath.Join(dataDir, "server/db/state.db"), 0o600)
	token, _ := os.ReadFile(filepath.Join(dataDir, "server/token"))
	if !strings.HasPrefix(string(token), "K10") || !strings.Contains(string(token), "::server:") {
		t.Fatalf("token file holds %q, want K10<ca-hash>::server:<secret>", token)
	}

	if out := srv.mustKubectl(t, "get", "--raw", "/readyz"); strings.TrimSpace(out) != "ok" {
		t.Fatalf("/readyz: %q", out)
	}
	// Upstream's metrics options with nothing set logged an error at each
	// start, once per component: an error in every log is one users learn
	// to ignore.
	if strings.Contains(srv.stderr.String(), "manifest file is empty") {
		t.Error("the start logged upstream's empty metrics manifest error")
	}
	srv.mustKubectl(t, "create", "namespace", "e2e")
	srv.mustKubectl(t, "-n", "e2e", "create", "configmap", "settings", "--from-literal=color=blue")
	// The datastore's own timings are served with the API server's metrics
	// (where a slow write's time goes: docs/scale.md).
	eventually(t, 30*time.Second, "kite_sqlite_* on /metrics", func() error {
		out, err := srv.kubectl("get", "--raw", "/metrics")
		for _, want := range []string{"kite_sqlite_commit_seconds_count", `kite_sqlite_maintenance_seconds_count{step="compact"}`} {
			if err == nil && !strings.Contains(out, want) {
				err = fmt.Errorf("no %s", want)
			}
		}
		return err
	})

	// controller-manager: the service account and root CA controllers fill
	// every new namespace.
	eventually(t, 2*time.Minute, "default service account in namespace e2e", func() error {
		_, err := srv.kubectl("-n", "e2e", "get", "serviceaccount", "default")
		return err
	})
	eventually(t, 2*time.Minute, "kube-root-ca.crt in namespace e2e", func() error {
		out, err := srv.kubectl("-n", "e2e", "get", "configmap", "kube-root-ca.crt", "-o", "jsonpath={.data.ca\\.crt}")
		if err == nil && !strings.Contains(out, "BEGIN CERTIFICATE") {
			err = fmt.Errorf("no CA in it: %q", out)
		}
		return err
	})

	// scheduler: with no node, a pod cannot be placed, and the scheduler
	// says so in an event.
	srv.mustKubectl(t, "-n", "e2e", "run", "waiting", "--image=kite.invalid/none:1", "--image-pull-policy=Never", "--restart=Never")
	eventually(t, 2*time.Minute, "FailedScheduling event for pod waiting", func() error {
		out, err := srv.kubectl("-n", "e2e", "get", "events",
			"--field-selector", "reason=FailedScheduling,involvedObject.name=waiting", "-o", "name")
		if err == nil && strings.TrimSpace(out) == "" {
			err = fmt.Errorf("no event yet")
		}
		return err
	})

	t.Run("kubectl uses /etc/kite/kite.yaml by default", func(t *testing.T) {
		// A private mount namespace with a tmpfs over /etc: the default
		// path exists there only, and the host's /etc is not touched.
		link := filepath.Join(t.TempDir(), "kubectl")
		if err := os.Symlink(kiteBin, link); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range [][]string{{kiteBin, "kubectl"}, {link}} {
			script := fmt.Sprintf(`mount -t tmpfs tmpfs /etc && mkdir /etc/kite && cp %q /etc/kite/kite.yaml && exec nsenter --net=/run/netns/%s -- "$@" -n e2e get configmap settings -o jsonpath={.data.color}`,
				kubeconfig, theLab.node)
			c := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "--", "sh", "-c", script, "sh"}, cmd...)...)
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "KUBECONFIG=") {
					c.Env = append(c.Env, kv)
				}
			}
			c.Env = append(c.Env, "HOME="+t.TempDir()) // no ~/.kube/config to fall back on
			out, err := c.CombinedOutput()
			if err != nil || string(out) != "blue" {
				t.Errorf("%s without KUBECONFIG: %v: %q", strings.Join(cmd, " "), err, out)
			}
		}
	})

	t.Run("second server on the same data dir is refused", func(t *testing.T) {
		before := snapshot(t, filepath.Join(dataDir, "server", "tls"))
		other := filepath.Join(t.TempDir(), "kite.yaml")
		code, out := runKite(t, "server", "--data-dir", dataDir, "--write-kubeconfig", other, "--https-listen-port", "7443", "--disable-agent")
		assertFailed(t, code, out, "in use by another kite process", "--data-dir")
		assertUnchanged(t, before, snapshot(t, filepath.Join(dataDir, "server", "tls")))
		if _, err := os.Stat(other); err == nil {
			t.Error("the refused server wrote a kubeconfig")
		}
	})

	t.Run("port already in use", func(t *testing.T) {
		code, out := runKite(t, "server", "--data-dir", t.TempDir(), "--write-kubeconfig", filepath.Join(t.TempDir(), "k.yaml"), "--disable-agent")
		assertFailed(t, code, out, "port 6443", "already in use", "--https-listen-port")
	})

	caBefore, err := os.ReadFile(filepath.Join(dataDir, "server/tls/server-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}

	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	for _, port := range []string{":6443", ":10257", ":10259"} {
		if l := listening(t); strings.Contains(l, port+" ") {
			t.Errorf("port %s still listened on after stop:\n%s", port, l)
		}
	}

	srv = startServer(t, dataDir, kubeconfig, "--disable-agent")
	srv.waitReady()
	if out := srv.mustKubectl(t, "-n", "e2e", "get", "configmap", "settings", "-o", "jsonpath={.data.color}"); out != "blue" {
		t.Fatalf("ConfigMap after restart holds %q, want blue", out)
	}
	caAfter, _ := os.ReadFile(filepath.Join(dataDir, "server/tls/server-ca.crt"))
	if string(caAfter) != string(caBefore) {
		t.Fatal("the server CA changed across a restart")
	}
	tokenAfter, _ := os.ReadFile(filepath.Join(dataDir, "server/token"))
	if string(tokenAfter) != string(token) {
		t.Fatal("the token changed across a restart")
	}
	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after the second SIGTERM", code)
	}

	// With the server stopped, nothing else writes the data dir: a refused
	// start must leave every file of it as it was.
	for _, c := range []struct {
		name, file, content string
	}{
		{"corrupt CA certificate", "server/tls/server-ca.crt", "not a certificate\n"},
		{"corrupt serving key", "server/tls/serving-kube-apiserver.key", "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dataDir, c.file)
			good, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(path, good, 0o600)
			before := snapshot(t, dataDir)
			code, out := runKite(t, "server", "--data-dir", dataDir, "--write-kubeconfig", kubeconfig, "--disable-agent")
			assertFailed(t, code, out, path, "restore")
			assertUnchanged(t, before, snapshot(t, dataDir))
		})
	}
}

// TestBadInput: each mistake gets one clear error and a non-zero exit, and
// the data dir is not touched.
func TestBadInput(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown flag", []string{"--no-such-flag"}, []string{"flag provided but not defined: -no-such-flag", "kite server --help"}},
		{"invalid cluster CIDR", []string{"--cluster-cidr", "10.42.0.0/33"}, []string{"--cluster-cidr", "not a CIDR"}},
		{"invalid service CIDR", []string{"--service-cidr", "10.43.0.1/16"}, []string{"--service-cidr", "did you mean 10.43.0.0/16"}},
		{"invalid IP", []string{"--advertise-address", "198.18.0.300"}, []string{"--advertise-address", "not an IP address"}},
		{"bad pass-through flag", []string{"--kube-apiserver-arg", "no-such-apiserver-flag=1"}, []string{"unknown flag: --no-such-apiserver-flag", "--kube-apiserver-arg"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"server", "--data-dir", dataDir, "--write-kubeconfig", filepath.Join(t.TempDir(), "k.yaml")}, c.args...)
			code, out := runKite(t, args...)
			assertFailed(t, code, out, c.want...)
			if c.name != "bad pass-through flag" {
				if _, err := os.Stat(dataDir); err == nil {
					t.Error("the data dir was created although the flags were invalid")
				}
			}
		})
	}

	t.Run("read-only data dir", func(t *testing.T) {
		dir := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
			t.Fatalf("mount: %v: %s", err, out)
		}
		defer exec.Command("umount", dir).Run()
		code, out := runKite(t, "server", "--data-dir", filepath.Join(dir, "kite"), "--write-kubeconfig", filepath.Join(t.TempDir(), "k.yaml"))
		assertFailed(t, code, out, "cannot create data dir", "read-only file system", "--data-dir")
	})
}

func TestVersion(t *testing.T) {
	code, out := runKite(t, "--version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if !strings.Contains(out, "kite version") || !strings.Contains(out, "Kubernetes v1.37.") {
		t.Fatalf("--version printed %q; want kite's version and Kubernetes v1.37.x", out)
	}
}

// TestKubectlLink: the binary is kubectl when called through a link of
// that name.
func TestKubectlLink(t *testing.T) {
	link := filepath.Join(t.TempDir(), "kubectl")
	if err := os.Symlink(kiteBin, link); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(link, "version", "--client", "-o", "yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "gitVersion: v1.37.") {
		t.Fatalf("kubectl link printed %q", out)
	}
}

func assertFailed(t *testing.T, code int, out string, want ...string) {
	t.Helper()
	if code == 0 {
		t.Fatalf("exit code 0, want failure; output:\n%s", out)
	}
	last := lastLine(out)
	if !strings.HasPrefix(last, "kite: error: ") {
		t.Errorf("last line is not kite's error line: %q\nfull output:\n%s", last, tail(out, 3000))
	}
	for _, w := range want {
		if !strings.Contains(last, w) {
			t.Errorf("error line does not mention %q: %q", w, last)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s has mode %v, want %v", path, st.Mode().Perm(), want)
	}
}

// snapshot records every file under dir: content hash, mode and mtime.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Type() == fs.ModeSocket {
			out[path] = "socket"
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out[path] = fmt.Sprintf("%x %v %v", sha256.Sum256(data), info.Mode(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertUnchanged(t *testing.T, before, after map[string]string) {
	t.Helper()
	for path, b := range before {
		a, ok := after[path]
		switch {
		case !ok:
			t.Errorf("%s was deleted", path)
		case a != b:
			t.Errorf("%s was rewritten", path)
		}
	}
	for path := range after {
		if _, ok := before[path]; !ok {
			t.Errorf("%s was created", path)
		}
	}
}

// TestKubectlCatalogueOnlyForKubectl: kite processes other than kubectl
// (the server, containerd, each pod's shim) do not parse kubectl's message
// catalogue in their init (pkg/englishonly); kubectl still does.
func TestKubectlCatalogueOnlyForKubectl(t *testing.T) {
	// inittrace lines: "init <package> @… ms, … ms clock, <bytes> bytes, …"
	initBytes := func(args ...string) int {
		cmd := exec.Command(kiteBin, args...)
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kite %v: %v\n%s", args, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) > 7 && f[0] == "init" && f[1] == "k8s.io/kubectl/pkg/cmd/options" {
				n, err := strconv.Atoi(f[7])
				if err != nil {
					t.Fatalf("inittrace line %q", line)
				}
				return n
			}
		}
		t.Fatalf("no inittrace line for kubectl's options package in:\n%s", out)
		return 0
	}
	if n := initBytes("--version"); n > 100_000 {
		t.Errorf("kite --version: kubectl's options package allocated %d bytes in init; the catalogue was loaded", n)
	}
	if n := initBytes("kubectl", "version", "--client"); n < 1_000_000 {
		t.Errorf("kite kubectl: kubectl's options package allocated %d bytes in init; translations not loaded", n)
	}
}

// TestCheckConfig: on this machine (cgroup v1, no CAP_SYS_RESOURCE, the
// kernel features built in) check-config passes with warnings that say
// what they change.
func TestCheckConfig(t *testing.T) {
	code, out := runKite(t, "check-config", "--data-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d on a host that runs kite:\n%s", code, out)
	}
	for _, want := range []string{
		"pass  overlay file system",
		"pass  vxlan",
		"pass  iptables command",
		"warn  capability CAP_SYS_RESOURCE: missing: kite cannot raise limits or lower OOM scores",
		"warn  cgroups (cpu, memory, pids): v1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
