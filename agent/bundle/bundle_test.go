package bundle

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLinkShimPointsAtKite(t *testing.T) {
	bin := t.TempDir()
	link := filepath.Join(bin, Shim)
	for _, self := range []string{"/usr/local/bin/kite", "/opt/kite/kite"} { // kite moved between starts
		if err := LinkShim(bin, self); err != nil {
			t.Fatal(err)
		}
		if got, err := os.Readlink(link); err != nil || got != self {
			t.Fatalf("shim link = %q, %v; want %q", got, err, self)
		}
	}
}

func TestLinkShimReplacesAFile(t *testing.T) {
	bin := t.TempDir()
	link := filepath.Join(bin, Shim)
	if err := os.WriteFile(link, []byte("an older kite's separate shim"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := LinkShim(bin, "/usr/local/bin/kite"); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(link); err != nil || got != "/usr/local/bin/kite" {
		t.Fatalf("shim link = %q, %v", got, err)
	}
	if _, err := os.Stat(link + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temporary link left behind: %v", err)
	}
}

func TestLinkShimReportsAMissingBinDir(t *testing.T) {
	if err := LinkShim(filepath.Join(t.TempDir(), "absent"), "/usr/local/bin/kite"); err == nil {
		t.Fatal("no error for a bin dir that does not exist")
	}
}
