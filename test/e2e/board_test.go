package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kite-project/kite/pkg/memlimit"
)

// TestSmallBoard runs kite server with its node and the default add-ons as
// a board of the documented minimum memory runs it: the whole process tree
// (kite, containerd, the shims, the pods, the page cache they fill) in one
// memory cgroup of memlimit.ServerMinimum, the binary cold in the page
// cache. A pod runs, the API answers, nothing is OOM-killed, and kite
// logs the limit it found.
func TestSmallBoard(t *testing.T) {
	cg := newMemoryCgroup(t, fmt.Sprintf("kite-e2e-%d-board", os.Getpid()), memlimit.ServerMinimum)
	// The board's own copy of the binary, dropped from the page cache: its
	// pages are read from disk and charged to the board, as after a boot
	// (the shared test binary is cached already, and charged elsewhere).
	board := filepath.Join(t.TempDir(), "kite")
	copyFile(t, kiteBin, board)
	if err := os.Chmod(board, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", "-c", `sync "$1" && dd if="$1" iflag=nocache count=0 status=none`, "sh", board).CombinedOutput(); err != nil {
		t.Fatalf("dropping the board's binary from the page cache: %v: %s", err, out)
	}
	inBoard := func(name string, args ...string) *exec.Cmd {
		if name == kiteBin {
			name = board
		}
		return theLab.command("sh", append([]string{"-c", `echo $$ >"$1" && shift && exec "$@"`, "sh", cg.procs, name}, args...)...)
	}
	dataDir := withBusybox(t, t.TempDir())
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	t.Cleanup(func() { killall(t, dataDir) })
	srv := startKite(t, inBoard, "kite server is ready", dataDir, kubeconfig, "server", "--data-dir", dataDir,
		"--write-kubeconfig", kubeconfig, "--kubelet-arg", "cgroup-root=/"+cg.name)
	srv.waitReady()
	if log := srv.stderr.String(); !strings.Contains(log, "memory limit") || !strings.Contains(log, cg.path) {
		t.Errorf("kite did not log the limit it found (%s):\n%s", cg.path, tail(log, 3000))
	}
	// It holds its own Go memory to what the limit leaves beside the node.
	want := fmt.Sprintf("mb=%d", memlimit.ServerGoLimit(memlimit.Limit{Bytes: memlimit.ServerMinimum})>>20)
	if !slices.ContainsFunc(strings.Split(srv.stderr.String(), "\n"), func(line string) bool {
		return strings.Contains(line, `msg="Go memory limit"`) && strings.Contains(line, want)
	}) {
		t.Errorf(`kite did not log "Go memory limit" with %s`, want)
	}
	srv.mustKubectl(t, "create", "namespace", "e2e")
	srv.mustKubectl(t, "-n", "e2e", "run", "sleeper", "--image", "kite.local/busybox:1.35", "--image-pull-policy", "Never",
		"--labels", "app=sleeper", "--", "sleep", "3600")
	waitPodsReady(t, srv, "app=sleeper", 1)
	// The API keeps answering promptly once settled (not paging its code
	// in and out).
	for i := range 5 {
		start := time.Now()
		srv.mustKubectl(t, "get", "pods", "-A")
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("kubectl get pods -A #%d took %v", i, took)
		}
	}
	if n := cg.oomKills(t); n > 0 {
		t.Errorf("%d OOM kills in the board's cgroup", n)
	}
	srv.stop(syscall.SIGTERM)
}

// memoryCgroup is a memory cgroup of a test's own (v1 or v2), with a limit.
type memoryCgroup struct {
	name  string // its path under the hierarchy's root
	path  string // its folder
	procs string // the cgroup.procs of the leaf that kite runs in
	v2    bool
}

// newMemoryCgroup makes /NAME with a hard limit, and a leaf NAME/kite for
// kite (cgroup v2 allows no process beside the kubelet's kubepods). The
// test is skipped where there is no memory controller. Cleanup removes
// it, the kubelet's cgroups under it too, in every hierarchy.
func newMemoryCgroup(t *testing.T, name string, limit int64) *memoryCgroup {
	t.Helper()
	cg := &memoryCgroup{name: name}
	if data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		if !slices.Contains(strings.Fields(string(data)), "memory") {
			t.Skip("this machine's cgroup v2 has no memory controller: a memory limit cannot be set")
		}
		cg.v2, cg.path = true, filepath.Join("/sys/fs/cgroup", name)
	} else if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err == nil {
		cg.path = filepath.Join("/sys/fs/cgroup/memory", name)
	} else {
		t.Skip("this machine has no cgroup memory controller: a memory limit cannot be set")
	}
	t.Cleanup(func() { removeCgroupRoot("/" + name) })
	limitFile := "memory.limit_in_bytes"
	if cg.v2 {
		limitFile = "memory.max"
		write(t, "/sys/fs/cgroup/cgroup.subtree_control", "+memory")
	}
	if err := os.MkdirAll(filepath.Join(cg.path, "kite"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(cg.path, limitFile), strconv.FormatInt(limit, 10))
	if cg.v2 {
		write(t, filepath.Join(cg.path, "cgroup.subtree_control"), "+memory")
	}
	cg.procs = filepath.Join(cg.path, "kite", "cgroup.procs")
	return cg
}

// oomKills counts the OOM kills in the cgroup and under it.
func (cg *memoryCgroup) oomKills(t *testing.T) int {
	t.Helper()
	file := "memory.oom_control"
	if cg.v2 {
		file = "memory.events"
	}
	data, err := os.ReadFile(filepath.Join(cg.path, file))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatalf("no oom_kill count in %s:\n%s", file, data)
	return 0
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
