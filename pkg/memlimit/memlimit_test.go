package memlimit

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeRoot writes files (path → content) under a temporary root; mountinfo
// lines name mount points inside it.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const meminfo = "MemTotal:       24683520 kB\nMemFree:        1000 kB\n"

func TestDetect(t *testing.T) {
	const v1Mounts = "30 22 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
		"35 30 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n" +
		"36 30 0:33 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
	const v1Groups = "9:name=systemd:/\n4:memory:/board/kite\n0::/\n"
	for _, c := range []struct {
		name   string
		files  map[string]string
		bytes  int64
		source string
	}{
		{"no cgroups: the machine", map[string]string{"/proc/meminfo": meminfo}, 24683520 << 10, "physical memory"},
		{"v1: the board's limit over kite's own leaf", map[string]string{
			"/proc/meminfo":                                          meminfo,
			"/proc/self/mountinfo":                                   v1Mounts,
			"/proc/self/cgroup":                                      v1Groups,
			"/sys/fs/cgroup/memory/memory.limit_in_bytes":            "9223372036854771712\n",
			"/sys/fs/cgroup/memory/board/memory.limit_in_bytes":      "469762048\n",
			"/sys/fs/cgroup/memory/board/kite/memory.limit_in_bytes": "9223372036854771712\n",
		}, 448 << 20, "cgroup v1 /sys/fs/cgroup/memory/board"},
		{"v1: unlimited everywhere", map[string]string{
			"/proc/meminfo":        meminfo,
			"/proc/self/mountinfo": v1Mounts,
			"/proc/self/cgroup":    v1Groups,
			"/sys/fs/cgroup/memory/board/memory.limit_in_bytes": "9223372036854771712\n",
		}, 24683520 << 10, "physical memory"},
		{"v1: a limit above the machine's memory", map[string]string{
			"/proc/meminfo":        meminfo,
			"/proc/self/mountinfo": v1Mounts,
			"/proc/self/cgroup":    v1Groups,
			"/sys/fs/cgroup/memory/board/memory.limit_in_bytes": "68719476736\n",
		}, 24683520 << 10, "physical memory"},
		{"v2: the tightest on the way up", map[string]string{
			"/proc/meminfo":                                       meminfo,
			"/proc/self/mountinfo":                                "30 22 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
			"/proc/self/cgroup":                                   "0::/system.slice/kite.service\n",
			"/sys/fs/cgroup/system.slice/memory.max":              "1073741824\n",
			"/sys/fs/cgroup/system.slice/kite.service/memory.max": "max\n",
		}, 1 << 30, "cgroup v2 /sys/fs/cgroup/system.slice"},
		{"v2 in a container: its cgroup is the mount's root", map[string]string{
			"/proc/meminfo":             meminfo,
			"/proc/self/mountinfo":      "30 22 0:27 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n",
			"/proc/self/cgroup":         "0::/\n",
			"/sys/fs/cgroup/memory.max": "536870912\n",
		}, 512 << 20, "cgroup v2 /sys/fs/cgroup"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := Detect(fakeRoot(t, c.files))
			if err != nil {
				t.Fatal(err)
			}
			if l.Bytes != c.bytes || l.Source != c.source {
				t.Errorf("Detect = %d bytes from %q, want %d from %q", l.Bytes, l.Source, c.bytes, c.source)
			}
		})
	}
}

func TestDetectWithoutMeminfo(t *testing.T) {
	if _, err := Detect(fakeRoot(t, map[string]string{"/proc/self/cgroup": "0::/\n"})); err == nil {
		t.Error("Detect without /proc/meminfo gave no error")
	}
}

func TestServerGoLimitLeavesRoomForTheNode(t *testing.T) {
	for _, c := range []struct{ limit, want int64 }{
		{512 << 20, 192 << 20},       // a 512 MB board: room for containerd, shims, pods and code
		{448 << 20, MinGoLimit},      // never below what the live heap needs
		{24 << 30, 24<<30 - 320<<20}, // a large machine: far above the heap
	} {
		if got := ServerGoLimit(Limit{Bytes: c.limit}); got != c.want {
			t.Errorf("limit %d MB: Go limit %d MB, want %d MB", c.limit>>20, got>>20, c.want>>20)
		}
	}
}
