package fileutil

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteAtomicMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	if err := WriteAtomic(path, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestWriteIfChangedKeepsSameContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if wrote, err := WriteIfChanged(path, []byte("a"), 0o644); err != nil || !wrote {
		t.Fatalf("first write: wrote=%v err=%v", wrote, err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	wrote, err := WriteIfChanged(path, []byte("a"), 0o600)
	if err != nil || wrote {
		t.Fatalf("same content: wrote=%v err=%v", wrote, err)
	}
	st, _ := os.Stat(path)
	if !st.ModTime().Equal(old) {
		t.Fatal("file was rewritten although its content did not change")
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode not corrected: %v", st.Mode().Perm())
	}
	if wrote, err := WriteIfChanged(path, []byte("b"), 0o600); err != nil || !wrote {
		t.Fatalf("changed content: wrote=%v err=%v", wrote, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "b" {
		t.Fatalf("content %q", b)
	}
}
