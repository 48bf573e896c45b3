package resolvconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestChoose(t *testing.T) {
	dir := t.TempDir()
	stub := write(t, dir, "stub", "# systemd-resolved\nnameserver 127.0.0.53\noptions edns0\n")
	real := write(t, dir, "real", "search lan\nnameserver 192.168.1.1\n")
	empty := write(t, dir, "empty", "search lan\n")
	gen := filepath.Join(dir, "agent", "etc", "resolv.conf")

	if got, err := Choose("", []string{stub, real}, gen); err != nil || got != real {
		t.Fatalf("a loopback-only file must be passed over: got %q %v", got, err)
	}
	got, err := Choose("", []string{stub, filepath.Join(dir, "missing")}, gen)
	if err != nil || got != gen {
		t.Fatalf("no usable file: got %q %v", got, err)
	}
	if data, _ := os.ReadFile(got); string(data) != Fallback {
		t.Fatalf("fallback file holds %q", data)
	}
	// A user's choice is taken as it is, even loopback (they may run a
	// resolver that pods can reach), but must name a nameserver.
	if got, err := Choose(stub, nil, gen); err != nil || got != stub {
		t.Fatalf("--resolv-conf: got %q %v", got, err)
	}
	if _, err := Choose(empty, nil, gen); err == nil || !strings.Contains(err.Error(), "no nameserver") {
		t.Fatalf("a file without nameservers: %v", err)
	}
	if _, err := Choose(filepath.Join(dir, "nope"), nil, gen); err == nil || !strings.Contains(err.Error(), "--resolv-conf") {
		t.Fatalf("a missing file: %v", err)
	}
}
