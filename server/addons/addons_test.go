package addons

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWriteSkipAndDisable(t *testing.T) {
	if !slices.Contains(Names(), "local-storage") {
		t.Fatalf("add-ons %v", Names())
	}
	dir := t.TempDir()
	none := func(string) bool { return false }
	if err := Write(dir, Settings{ClusterDNS: "10.43.0.10"}, none); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "local-storage.yaml")
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), "provisioner: rancher.io/local-path") {
		t.Fatalf("local-storage.yaml: %v\n%s", err, data)
	}
	// Skipped: the user's edit stays.
	os.WriteFile(path, []byte("mine\n"), 0o600)
	os.WriteFile(path+".skip", nil, 0o600)
	Write(dir, Settings{}, none)
	if data, _ := os.ReadFile(path); string(data) != "mine\n" {
		t.Fatal("a skipped add-on was rewritten")
	}
	os.Remove(path + ".skip")
	Write(dir, Settings{}, none)
	if data, _ := os.ReadFile(path); string(data) == "mine\n" {
		t.Fatal("the add-on was not restored once the skip file went")
	}
	// Disabled: removed.
	Write(dir, Settings{}, func(name string) bool { return name == "local-storage" })
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("a disabled add-on's manifest is still there")
	}
}
