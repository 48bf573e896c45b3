package snapshots

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func touch(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	files, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	return out
}

// TestListOldestFirst: List shows snapshots only (not the partial files
// of a save in progress, nor other files), oldest first.
func TestListOldestFirst(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "etcd-snapshot-n1-1700000200.gz", "on-demand-n1-1700000100", "etcd-snapshot-n1-1700000300",
		".on-demand-n1-1700000400.part-123", "notes.txt")
	want := []string{"on-demand-n1-1700000100", "etcd-snapshot-n1-1700000200.gz", "etcd-snapshot-n1-1700000300"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	files, _ := List(dir)
	if !files[1].Compressed || files[0].Compressed || files[0].Created.Unix() != 1700000100 {
		t.Errorf("List read %+v", files)
	}
	if got, err := List(filepath.Join(dir, "missing")); err != nil || got != nil {
		t.Errorf("List of a missing dir = %v, %v", got, err)
	}
}

// TestPruneKeepsNewestOfOneName: prune removes the oldest snapshots of its
// name and node beyond the retention, and nothing else.
func TestPruneKeepsNewestOfOneName(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "etcd-snapshot-n1-1700000001", "etcd-snapshot-n1-1700000002.gz", "etcd-snapshot-n1-1700000003",
		"etcd-snapshot-n2-1700000000", "on-demand-n1-1600000000", "etcd-snapshot-n1-extra-1600000000")
	removed, err := Prune(dir, ScheduledName, "n1", 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{"etcd-snapshot-n1-1700000001"}) {
		t.Errorf("removed %v", removed)
	}
	want := []string{"etcd-snapshot-n1-extra-1600000000", "on-demand-n1-1600000000", "etcd-snapshot-n2-1700000000",
		"etcd-snapshot-n1-1700000002.gz", "etcd-snapshot-n1-1700000003"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
}

// TestDeleteAllOrNothing: a name that is not a snapshot there is refused
// before any file is removed.
func TestDeleteAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "on-demand-n1-1700000001", "on-demand-n1-1700000002")
	err := Delete(dir, "on-demand-n1-1700000001", "../etc/passwd")
	if err == nil || !strings.Contains(err.Error(), `no snapshot "../etc/passwd"`) {
		t.Fatalf("Delete = %v", err)
	}
	if len(names(t, dir)) != 2 {
		t.Fatal("a refused delete removed files")
	}
	if err := Delete(dir, "on-demand-n1-1700000001"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"on-demand-n1-1700000002"}) {
		t.Errorf("left %v", got)
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"on-demand", "before-upgrade-2", "a"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Upper", "has space", "a/b", "-lead", "trail-", strings.Repeat("a", 101)} {
		if err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) accepted", bad)
		}
	}
}
