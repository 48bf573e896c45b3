package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestManifests: files in <data-dir>/server/manifests are applied at start
// and when they change (server-side apply, field manager kite); objects
// removed from a file, or whose file is deleted, are deleted; NAME.skip
// leaves NAME alone; a broken file is reported by name and line, and the
// others still apply.
func TestManifests(t *testing.T) {
	dataDir := t.TempDir()
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	dir := filepath.Join(dataDir, "server", "manifests")
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		// Through a rename, as an editor or installer would: never half a file.
		tmp := filepath.Join(dir, ".tmp-"+name)
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	configMap := func(name, value string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: mf}\ndata: {a: %q}\n", name, value)
	}
	// Present before the start: applied at start.
	write("app.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: mf}\n---\n"+configMap("one", "1")+"---\n"+configMap("two", "1"))
	srv := startServer(t, dataDir, kubeconfig, "--disable-agent")
	srv.waitReady()

	value := func(name string) string {
		out, err := srv.kubectl("-n", "mf", "get", "configmap", name, "-o", "jsonpath={.data.a}")
		if err != nil {
			return "absent"
		}
		return out
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		eventually(t, time.Minute, what, func() error {
			if !ok() {
				return fmt.Errorf("not yet")
			}
			return nil
		})
	}
	waitFor("app.yaml applied at start", func() bool { return value("one") == "1" && value("two") == "1" })
	if out := srv.mustKubectl(t, "-n", "mf", "get", "configmap", "one", "-o", "jsonpath={.metadata.managedFields[*].manager}"); !strings.Contains(out, "kite") {
		t.Errorf("field managers %q, want kite", out)
	}

	t.Run("a change is applied and a removed object deleted", func(t *testing.T) {
		write("app.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: mf}\n---\n"+configMap("one", "2"))
		waitFor("one changed, two deleted", func() bool { return value("one") == "2" && value("two") == "absent" })
	})

	t.Run("a broken file is reported by name and line; the others apply", func(t *testing.T) {
		write("broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: tabbed\n")
		write("other.yaml", configMap("other", "1"))
		waitFor("other.yaml applied", func() bool { return value("other") == "1" })
		eventually(t, time.Minute, "the error in the log", func() error {
			if log := srv.stderr.String(); !strings.Contains(log, "broken.yaml:4:") {
				return fmt.Errorf("no broken.yaml:4 in the log")
			}
			return nil
		})
		waitEvent(t, srv, "kube-system", "reason=ParseFailed", "broken.yaml:4:")
	})

	t.Run("NAME.skip leaves NAME alone", func(t *testing.T) {
		write("app.yaml.skip", "")
		write("app.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: mf}\n---\n"+configMap("one", "3"))
		// marker.yaml is applied in the same pass as app.yaml would be.
		write("marker.yaml", configMap("marker", "1"))
		waitFor("marker applied", func() bool { return value("marker") == "1" })
		if v := value("one"); v != "2" {
			t.Fatalf("a skipped file was applied: one=%s", v)
		}
		if err := os.Remove(filepath.Join(dir, "app.yaml.skip")); err != nil {
			t.Fatal(err)
		}
		waitFor("app.yaml applied once the skip file is gone", func() bool { return value("one") == "3" })
	})

	t.Run("a deleted file's objects are deleted", func(t *testing.T) {
		if err := os.Remove(filepath.Join(dir, "other.yaml")); err != nil {
			t.Fatal(err)
		}
		waitFor("other deleted", func() bool { return value("other") == "absent" })
		if value("one") != "3" {
			t.Fatal("another file's object went too")
		}
	})
}
