package configfile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

var flags = []cli.Flag{
	&cli.StringFlag{Name: "node-name"},
	&cli.StringFlag{Name: "write-kubeconfig-mode"},
	&cli.StringFlag{Name: "token", Aliases: []string{"t"}},
	&cli.IntFlag{Name: "https-listen-port"},
	&cli.BoolFlag{Name: "disable-agent"},
	&cli.StringSliceFlag{Name: "node-label"},
	&cli.StringSliceFlag{Name: "kubelet-arg"},
}

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFilesAndDropInsInOrder(t *testing.T) {
	dir := t.TempDir()
	main := write(t, filepath.Join(dir, "config.yaml"), "node-name: a\n")
	write(t, filepath.Join(dir, "config.yaml.d", "20-b.yaml"), "")
	write(t, filepath.Join(dir, "config.yaml.d", "10-a.yaml"), "")
	write(t, filepath.Join(dir, "config.yaml.d", "notes.txt"), "")
	got, err := Files(main, true)
	want := []string{main, filepath.Join(dir, "config.yaml.d", "10-a.yaml"), filepath.Join(dir, "config.yaml.d", "20-b.yaml")}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Files: %v %v", got, err)
	}
	// The default path may be missing; a named one may not.
	if got, err := Files(filepath.Join(dir, "absent.yaml"), false); err != nil || len(got) != 0 {
		t.Fatalf("missing default: %v %v", got, err)
	}
	if _, err := Files(filepath.Join(dir, "absent.yaml"), true); err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Fatalf("missing named file: %v", err)
	}
}

func TestArgsPrecedence(t *testing.T) {
	dir := t.TempDir()
	a := write(t, filepath.Join(dir, "config.yaml"), `
node-name: first
write-kubeconfig-mode: 0644
https-listen-port: 7443
disable-agent: true
node-label: [role=edge, zone=a]
kubelet-arg:
- max-pods=50
token: from-file
`)
	b := write(t, filepath.Join(dir, "config.yaml.d", "10.yaml"), `
node-name: second
node-label: [replaced=yes]
kubelet-arg+: [image-gc-high-threshold=90]
`)
	got, err := Args([]string{a, b}, flags, map[string]bool{"token": true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"--node-name=second",
		"--write-kubeconfig-mode=0644", // as written, not read as octal
		"--https-listen-port=7443",
		"--disable-agent=true",
		"--node-label=replaced=yes",                                             // a later file replaces a list
		"--kubelet-arg=max-pods=50", "--kubelet-arg=image-gc-high-threshold=90", // key+ appends
		// token: given on the command line, which wins
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Args:\n%q\nwant\n%q", got, want)
	}
}

func TestArgsErrorsNameFileLineAndKey(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ content, want string }{
		"unknown key":    {"node-name: a\nnode-lable: [x=y]\n", `line 2: unknown key "node-lable"`},
		"list for one":   {"node-name: [a, b]\n", `key "node-name": one value expected`},
		"not a number":   {"https-listen-port: high\n", `key "https-listen-port": a whole number expected`},
		"not a bool":     {"disable-agent: sometimes\n", `key "disable-agent": true or false expected`},
		"append scalar":  {"node-name+: a\n", `key "node-name+": + appends to a list`},
		"not a mapping":  {"- node-name\n", "want flag names as keys"},
		"broken yaml":    {"node-name: [a\n", "config.yaml"},
		"config in file": {"config: other.yaml\n", `unknown key "config"`},
	} {
		path := write(t, filepath.Join(dir, name, "config.yaml"), c.content)
		_, err := Args([]string{path}, flags, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want an error naming %s and %q", name, err, path, c.want)
		}
	}
}
