package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigFile: a config file and its drop-ins set kite server's flags
// (a later file replaces a key, key+ appends, the command line wins); a bad
// key is one error naming the file and the key, before anything is
// written. Under systemd (a Type=notify unit) kite sends READY=1 once
// ready: here to a socket of the test's.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	if err := os.MkdirAll(config+".d", 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		config: "node-name: from-file\nnode-label: [kite.test/a=1]\ndisable: [coredns]\n",
		filepath.Join(config+".d", "10-labels.yaml"): "node-label+: [kite.test/b=2]\n",
		filepath.Join(config+".d", "20-name.yaml"):   "node-name: from-drop-in\n",
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a bad key", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		os.WriteFile(bad, []byte("node-name: x\nnode-lable: [a=b]\n"), 0o600)
		dataDir := filepath.Join(t.TempDir(), "data")
		code, out := runKite(t, "server", "--config", bad, "--data-dir", dataDir)
		assertFailed(t, code, out, bad, "line 2", `unknown key "node-lable"`)
		if _, err := os.Stat(dataDir); err == nil {
			t.Error("the data dir was created although the config file was bad")
		}
	})

	notify := filepath.Join(shortTempDir(t), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", notify) // inherited by kite

	dataDir := t.TempDir()
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	t.Cleanup(func() { killall(t, dataDir) })
	// KITE_CONFIG_FILE names the file; --node-name on the command line wins.
	t.Setenv("KITE_CONFIG_FILE", config)
	srv := startServer(t, dataDir, kubeconfig, "--node-name", "from-flag")
	srv.waitReady()
	out := srv.mustKubectl(t, "get", "nodes", "-o", `jsonpath={.items[*].metadata.name} {.items[0].metadata.labels.kite\.test/a} {.items[0].metadata.labels.kite\.test/b}`)
	if out != "from-flag 1 2" {
		t.Fatalf("node name and labels: %q, want from-flag (the command line), 1 (the file) and 2 (the drop-in's key+)", out)
	}
	if out := srv.mustKubectl(t, "-n", "kube-system", "get", "deployments", "-o", "name"); strings.Contains(out, "coredns") {
		t.Fatalf("disable: [coredns] in the file was not applied: %s", out)
	}

	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("systemd notification: %q %v", buf[:n], err)
	}
}
