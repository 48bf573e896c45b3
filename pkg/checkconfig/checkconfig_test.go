package checkconfig

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHost writes a host's files under a temporary root.
func fakeHost(t *testing.T, files map[string]string, commands ...string) Host {
	t.Helper()
	root := t.TempDir()
	for path, content := range files {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := []byte(content)
		if strings.HasSuffix(path, ".gz") {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(data)
			zw.Close()
			data = buf.Bytes()
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Host{Root: root, DataDir: t.TempDir(), LookPath: func(name string) (string, error) {
		for _, c := range commands {
			if c == name {
				return "/usr/sbin/" + name, nil
			}
		}
		return "", errors.New("not found")
	}}
}

func find(t *testing.T, rs []Result, what string) Result {
	t.Helper()
	for _, r := range rs {
		if strings.HasPrefix(r.What, what) {
			return r
		}
	}
	t.Fatalf("no check %q in %v", what, rs)
	return Result{}
}

const allBuiltIn = `CONFIG_OVERLAY_FS=y
CONFIG_BRIDGE=y
CONFIG_BRIDGE_NETFILTER=y
CONFIG_VETH=y
CONFIG_VXLAN=m
CONFIG_NF_NAT=y
CONFIG_NF_TABLES=y
CONFIG_NET_NS=y
CONFIG_SECCOMP=y
`

// CapEff with CAP_NET_ADMIN (12) and CAP_SYS_ADMIN (21), not CAP_SYS_RESOURCE (24).
const status = "Name:\tkite\nSeccomp:\t0\nCapEff:\t0000000000201000\n"

func TestAHostLikeThisOne(t *testing.T) {
	h := fakeHost(t, map[string]string{
		"/proc/config.gz":             allBuiltIn,
		"/sys/module/vxlan/refcnt":    "0",
		"/proc/self/status":           status,
		"/sys/fs/cgroup/cpu/tasks":    "",
		"/sys/fs/cgroup/memory/tasks": "",
		"/sys/fs/cgroup/pids/tasks":   "",
		"/proc/swaps":                 "Filename\tType\tSize\tUsed\tPriority\n",
		"/proc/meminfo":               "MemTotal: 24000000 kB\nMemAvailable: 20000000 kB\n",
	}, "iptables", "nft")
	rs := Run(h)
	if Failed(rs) {
		t.Fatalf("a fail on a host that runs kite:\n%v", rs)
	}
	if r := find(t, rs, "vxlan"); r.Status != Pass {
		t.Errorf("vxlan, a loaded module: %v", r)
	}
	if r := find(t, rs, "cgroups"); r.Status != Warn || !strings.Contains(r.Detail, "v1") {
		t.Errorf("cgroup v1: %v", r)
	}
	if r := find(t, rs, "capability CAP_SYS_RESOURCE"); r.Status != Warn || !strings.Contains(r.Detail, "OOM") {
		t.Errorf("missing CAP_SYS_RESOURCE: %v", r)
	}
	if r := find(t, rs, "capability CAP_SYS_ADMIN"); r.Status != Pass {
		t.Errorf("CAP_SYS_ADMIN: %v", r)
	}
	if r := find(t, rs, "swap"); r.Status != Pass {
		t.Errorf("no swap: %v", r)
	}
}

func TestWhatFailsAndWhatItSays(t *testing.T) {
	h := fakeHost(t, map[string]string{
		"/proc/config.gz":                   strings.Replace(allBuiltIn, "CONFIG_OVERLAY_FS=y", "# CONFIG_OVERLAY_FS is not set", 1),
		"/proc/self/status":                 "CapEff:\t0000000000000000\n",
		"/sys/fs/cgroup/cgroup.controllers": "cpu io",
		"/proc/swaps":                       "Filename\tType\tSize\tUsed\tPriority\n/swapfile file 1024 0 -2\n",
		"/proc/meminfo":                     "MemTotal: 400000 kB\nMemAvailable: 100000 kB\n",
	})
	rs := Run(h)
	if !Failed(rs) {
		t.Fatal("no fail reported")
	}
	for what, want := range map[string]string{
		"overlay":                  "CONFIG_OVERLAY_FS",
		"vxlan":                    "modprobe vxlan", // a module, not loaded
		"cgroups":                  "memory, pids",
		"iptables command":         "apt-get install iptables",
		"capability CAP_SYS_ADMIN": "run kite as root",
		"swap on":                  "swapoff",
		"free memory":              "free some memory",
		"memory limit":             "not for a server with its node",
	} {
		r := find(t, rs, what)
		if r.Status == Pass || !strings.Contains(r.Detail, want) {
			t.Errorf("%s: %v, want a warn or fail saying %q", what, r, want)
		}
	}
	if r := find(t, rs, "overlay"); r.Status != Fail {
		t.Errorf("overlay missing from the kernel must fail: %v", r)
	}
	if r := find(t, rs, "nft command"); r.Status != Warn {
		t.Errorf("nft is optional: %v", r)
	}
}

// A board's memory is the cgroup's limit, not the machine's.
func TestMemoryLimitOfTheCgroup(t *testing.T) {
	h := fakeHost(t, map[string]string{
		"/proc/meminfo":                          "MemTotal: 24000000 kB\nMemAvailable: 20000000 kB\n",
		"/proc/self/mountinfo":                   "30 22 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
		"/proc/self/cgroup":                      "0::/kite.service\n",
		"/sys/fs/cgroup/kite.service/memory.max": "104857600\n",
	})
	r := find(t, Run(h), "memory limit")
	if r.Status != Fail || !strings.Contains(r.What, "100 MB") || !strings.Contains(r.What, "/sys/fs/cgroup/kite.service") || !strings.Contains(r.Detail, "give kite more memory") {
		t.Errorf("a 100 MB cgroup: %v, want a fail naming the limit, the cgroup and the fix", r)
	}
}
