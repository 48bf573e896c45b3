// Package hostinfo finds out what the node's host offers, rather than
// assuming it: the cgroup version, whether systemd runs the host (and so
// which cgroup driver to use), and whether a process may lower its
// oom_score_adj (needs CAP_SYS_RESOURCE, which some VMs and containers lack).
package hostinfo

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Host is what the agent configures containerd and the kubelet from.
type Host struct {
	CgroupV2 bool
	Systemd  bool // systemd is the host's init
	// CanLowerOOMScoreAdj is false where writing a negative oom_score_adj
	// fails; containerd must then be told restrict_oom_score_adj, or runc
	// fails every pod sandbox.
	CanLowerOOMScoreAdj bool
}

// CgroupDriver is the driver both containerd (runc) and the kubelet use:
// systemd where systemd manages a unified cgroup v2 tree, else cgroupfs.
func (h Host) CgroupDriver() string {
	if h.CgroupV2 && h.Systemd {
		return "systemd"
	}
	return "cgroupfs"
}

// Paths are the host files looked at; tests point them elsewhere.
type Paths struct {
	CgroupRoot  string // /sys/fs/cgroup
	SystemdDir  string // /run/systemd/system, present when systemd is init
	OOMScoreAdj string // /proc/self/oom_score_adj
}

// DefaultPaths are the real ones.
var DefaultPaths = Paths{
	CgroupRoot:  "/sys/fs/cgroup",
	SystemdDir:  "/run/systemd/system",
	OOMScoreAdj: "/proc/self/oom_score_adj",
}

// Detect looks at the host.
func Detect(p Paths) Host {
	var h Host
	var st unix.Statfs_t
	if err := unix.Statfs(p.CgroupRoot, &st); err == nil {
		h.CgroupV2 = st.Type == unix.CGROUP2_SUPER_MAGIC
	}
	if fi, err := os.Stat(p.SystemdDir); err == nil && fi.IsDir() {
		h.Systemd = true
	}
	h.CanLowerOOMScoreAdj = canLowerOOMScoreAdj(p.OOMScoreAdj)
	return h
}

// canLowerOOMScoreAdj tries to write a value below the current one, and
// puts the old value back (raising it needs no privilege).
func canLowerOOMScoreAdj(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return false
	}
	if cur <= -1000 {
		return true // already at the floor, so someone could lower it
	}
	lower := strconv.Itoa(cur - 1)
	if err := os.WriteFile(path, []byte(lower), 0); err != nil {
		return false
	}
	// Check it took: some kernels accept the write and keep the value.
	now, _ := os.ReadFile(path)
	ok := strings.TrimSpace(string(now)) == lower
	os.WriteFile(path, []byte(strconv.Itoa(cur)), 0)
	return ok
}
