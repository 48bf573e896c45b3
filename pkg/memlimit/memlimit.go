// Package memlimit finds how much memory a kite process and everything it
// starts may use: the tightest memory cgroup limit over the process (a
// board's own memory, a container's or a systemd unit's MemoryMax), else
// the machine's memory. kite sizes itself to it (issue 25: a 512 MB board).
package memlimit

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// The least memory kite works in, measured by scripts/bench-board
// (docs/small-boards.md): the whole process tree (kite, containerd, the
// shims, ~10 small pods) and the page cache it needs. Below, kite pages
// its own code in and out instead of working. A server with its node
// works in 512 MB (with ServerGoLimit), not in 448 (the goal: its
// processes' anonymous memory alone is ~275 MB there, and the code they
// run does not fit beside it). An agent works in 320 MB; at 256 MB its
// pods start, 3× slower, while it reads its code back at 83 major
// faults a second; at 192 MB they do not.
const (
	ServerMinimum int64 = 512 << 20 // kite server with its node and the default add-ons
	AgentMinimum  int64 = 320 << 20 // kite agent: at 256 MB it pages its code (83 major faults/s)
)

// Limit is the memory kite may use, and where that figure comes from.
type Limit struct {
	Bytes int64
	// Source names it for the log: "cgroup v1 /sys/fs/cgroup/memory/x",
	// "cgroup v2 /sys/fs/cgroup/x", or "physical memory".
	Source string
}

// MB is the limit in MiB, for messages.
func (l Limit) MB() int64 { return l.Bytes >> 20 }

// Detect reads the limit of the calling process. root is "" on a real
// system (a test points it at a fake tree).
func Detect(root string) (Limit, error) {
	total, err := physical(root)
	if err != nil {
		return Limit{}, err
	}
	best := Limit{Bytes: total, Source: "physical memory"}
	groups, err := os.ReadFile(filepath.Join(root, "/proc/self/cgroup"))
	if err != nil {
		return best, nil // no cgroups: the machine's memory
	}
	mounts, err := os.ReadFile(filepath.Join(root, "/proc/self/mountinfo"))
	if err != nil {
		return best, nil
	}
	for _, m := range memoryMounts(mounts) {
		group, ok := cgroupOf(groups, m.v2)
		if !ok {
			continue
		}
		// The cgroup path is relative to the hierarchy's root; the mount
		// may show a sub-tree of it (a container's cgroup namespace).
		rel := "/"
		if m.root == "/" {
			rel = group
		} else if r, ok := strings.CutPrefix(group, m.root); ok && (r == "" || r[0] == '/') {
			rel = r
		}
		// Every limit on the way up applies.
		for dir := path.Clean("/" + rel); ; dir = path.Dir(dir) {
			p := filepath.Join(root, m.point, dir)
			if b, ok := readLimit(p, m.v2); ok && b < best.Bytes {
				best = Limit{Bytes: b, Source: fmt.Sprintf("cgroup v%d %s", map[bool]int{true: 2, false: 1}[m.v2], filepath.Join(m.point, dir))}
			}
			if dir == "/" {
				break
			}
		}
	}
	return best, nil
}

// physical is MemTotal from /proc/meminfo, in bytes.
func physical(root string) (int64, error) {
	data, err := os.ReadFile(filepath.Join(root, "/proc/meminfo"))
	if err != nil {
		return 0, fmt.Errorf("cannot read the machine's memory: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				break
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no MemTotal in /proc/meminfo")
}

// mount is a memory cgroup hierarchy as /proc/self/mountinfo shows it.
type mount struct {
	root, point string
	v2          bool
}

// memoryMounts lists the cgroup v1 memory hierarchy and the cgroup v2 one
// (which may hold the memory controller, or, beside a v1 memory
// hierarchy, not: then its files are missing and it limits nothing).
func memoryMounts(mountinfo []byte) []mount {
	var out []mount
	for _, line := range strings.Split(string(mountinfo), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(after) < 3 {
			continue
		}
		switch {
		case after[0] == "cgroup2":
			out = append(out, mount{root: fields[3], point: fields[4], v2: true})
		case after[0] == "cgroup" && hasOption(after[2], "memory"):
			out = append(out, mount{root: fields[3], point: fields[4]})
		}
	}
	return out
}

func hasOption(options, want string) bool {
	for _, o := range strings.Split(options, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// cgroupOf finds the process's cgroup in the memory hierarchy (v1) or in
// the unified one (v2) from /proc/self/cgroup.
func cgroupOf(groups []byte, v2 bool) (string, bool) {
	for _, line := range strings.Split(string(groups), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if v2 && parts[0] == "0" && parts[1] == "" {
			return parts[2], true
		}
		if !v2 && hasOption(parts[1], "memory") {
			return parts[2], true
		}
	}
	return "", false
}

// readLimit reads a cgroup's hard limit; false when it has none.
func readLimit(dir string, v2 bool) (int64, bool) {
	file := "memory.limit_in_bytes"
	if v2 {
		file = "memory.max"
	}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0, false
	}
	b, err := strconv.ParseInt(s, 10, 64)
	// cgroup v1 says "no limit" with a huge page-aligned number.
	if err != nil || b <= 0 || b >= 1<<62 {
		return 0, false
	}
	return b, true
}

// NodeReserve is what a kite server's node needs beside the server's own
// Go memory, with ~10 small pods (scripts/bench-board, 2026-12-08): the
// containerd process ~30 MB, each pod's shim ~4 MB, CoreDNS and the pods,
// and the page cache of the code all these processes run (90-110 MB of
// the binary mapped once settled). Without a soft limit the server's Go
// heap grew to 230-250 MB at 512 MB and pushed that code out of the page
// cache (hundreds of major faults a second, the API timing out); held to
// 180 MB the same board worked.
const NodeReserve int64 = 320 << 20

// MinGoLimit is the least soft limit kite sets: below it the collector
// would run without pause over a live heap that cannot shrink further
// (kite server's is ~110-150 MB).
const MinGoLimit int64 = 160 << 20

// ServerGoLimit is the soft memory limit (runtime/debug.SetMemoryLimit)
// for kite server's own process in a process tree limited to l: the limit
// less NodeReserve, at least MinGoLimit. On a large machine it is far
// above anything the heap reaches and changes nothing.
func ServerGoLimit(l Limit) int64 {
	return max(l.Bytes-NodeReserve, MinGoLimit)
}
