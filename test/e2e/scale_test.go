package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestScaleTooling runs scripts/bench-scale small, so the scale benchmark's
// tooling keeps working: a kite server, 50 nodes simulated by kwok (built
// from its module) all Ready, 2 pods on each and 10 more at a steady rate
// all Running, then all of it removed (the script fails otherwise), and
// nothing of the run left on the machine.
func TestScaleTooling(t *testing.T) {
	before := netnsNamed(t, "kite-scale-")
	kwokBefore := processesNamed(t, "kwok-")
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "bench-scale"))
	cmd.Env = append(os.Environ(), "KITE_BIN="+kiteBin, "TARGETS=kite", "STEPS=50", "PODS_PER_NODE=2",
		"LATENCY_PODS=10", "LATENCY_RATE=5", "SECTION=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench-scale: %v\n%s", err, tail(string(out), 6000))
	}
	for _, want := range []string{"| 50 | 100 |", "kite clean: {\"clean_seconds\""} {
		if !strings.Contains(string(out), want) {
			t.Errorf("bench-scale's output has no %q:\n%s", want, tail(string(out), 4000))
		}
	}
	if after := netnsNamed(t, "kite-scale-"); len(after) > len(before) {
		t.Errorf("network namespaces left: %v", after)
	}
	if after := processesNamed(t, "kwok-"); after > kwokBefore {
		t.Errorf("%d kwok processes left running", after-kwokBefore)
	}
	if left, _ := filepath.Glob("/tmp/kite-scale.*"); len(left) > 0 {
		t.Errorf("work folders left: %v", left)
	}
}

// netnsNamed lists the network namespaces whose names start with prefix.
func netnsNamed(t *testing.T, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names
}

// processesNamed counts the processes whose name starts with prefix.
func processesNamed(t *testing.T, prefix string) int {
	t.Helper()
	comms, err := filepath.Glob("/proc/[0-9]*/comm")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range comms {
		if b, err := os.ReadFile(f); err == nil && strings.HasPrefix(string(b), prefix) {
			n++
		}
	}
	return n
}
