package hostinfo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCgroupDriver(t *testing.T) {
	for _, c := range []struct {
		v2, systemd bool
		want        string
	}{
		{false, false, "cgroupfs"},
		{false, true, "cgroupfs"}, // systemd on v1: kite stays with cgroupfs, as K3s does
		{true, false, "cgroupfs"},
		{true, true, "systemd"},
	} {
		if got := (Host{CgroupV2: c.v2, Systemd: c.systemd}).CgroupDriver(); got != c.want {
			t.Errorf("v2=%v systemd=%v: %s, want %s", c.v2, c.systemd, got, c.want)
		}
	}
}

func TestDetectFromPaths(t *testing.T) {
	dir := t.TempDir()
	adj := filepath.Join(dir, "oom_score_adj")
	os.WriteFile(adj, []byte("0\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "systemd"), 0o755)
	h := Detect(Paths{CgroupRoot: dir, SystemdDir: filepath.Join(dir, "systemd"), OOMScoreAdj: adj})
	if h.CgroupV2 {
		t.Error("a plain folder was taken for a cgroup2 mount")
	}
	if !h.Systemd {
		t.Error("systemd folder not seen")
	}
	if !h.CanLowerOOMScoreAdj {
		t.Error("a writable oom_score_adj was reported unwritable")
	}
	if b, _ := os.ReadFile(adj); string(b) != "0" {
		t.Errorf("oom_score_adj not restored: %q", b)
	}
	h = Detect(Paths{CgroupRoot: dir, SystemdDir: filepath.Join(dir, "none"), OOMScoreAdj: filepath.Join(dir, "none", "adj")})
	if h.Systemd || h.CanLowerOOMScoreAdj {
		t.Errorf("missing files detected as present: %+v", h)
	}
}

// On the real host, detection must agree with what the kernel does.
func TestDetectRealOOMScoreAdj(t *testing.T) {
	h := Detect(DefaultPaths)
	orig, _ := os.ReadFile("/proc/self/oom_score_adj")
	err := os.WriteFile("/proc/self/oom_score_adj", []byte("-1000"), 0)
	os.WriteFile("/proc/self/oom_score_adj", orig, 0)
	if (err == nil) != h.CanLowerOOMScoreAdj {
		t.Fatalf("detected CanLowerOOMScoreAdj=%v, but writing -1 gave %v", h.CanLowerOOMScoreAdj, err)
	}
}
