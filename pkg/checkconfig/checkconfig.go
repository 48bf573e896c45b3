// Package checkconfig is `kite check-config`: whether this host can run a
// kite node, one line per check (pass, warn or fail, with a hint), read
// from the kernel's configuration and the live system. Nothing is changed.
package checkconfig

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kite-project/kite/pkg/memlimit"
)

// Status of one check.
type Status string

const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Result is one line of the report.
type Result struct {
	Status Status
	What   string
	Detail string // why, and the fix for a warn or fail
}

func (r Result) String() string {
	if r.Detail == "" {
		return fmt.Sprintf("%s  %s", r.Status, r.What)
	}
	return fmt.Sprintf("%s  %s: %s", r.Status, r.What, r.Detail)
}

// Host is where the checks read from; Root "" is the real system (a test
// points it at a fake tree).
type Host struct {
	Root    string
	DataDir string
	// LookPath finds a command (exec.LookPath unless set).
	LookPath func(string) (string, error)
}

func (h Host) path(p string) string { return filepath.Join(h.Root, p) }

func (h Host) exists(p string) bool {
	_, err := os.Stat(h.path(p))
	return err == nil
}

// kernelFeature is a kernel option kite's node needs, with the live sign
// that it is there (for kernels without /proc/config.gz).
type kernelFeature struct {
	what    string
	options []string // any of these =y or =m
	live    func(Host) bool
	fix     string
}

var kernelFeatures = []kernelFeature{
	{"overlay file system (containerd's snapshotter)", []string{"CONFIG_OVERLAY_FS"},
		func(h Host) bool { return fileHas(h.path("/proc/filesystems"), "overlay") }, "modprobe overlay"},
	{"bridge (the pod network)", []string{"CONFIG_BRIDGE"},
		func(h Host) bool { return h.exists("/sys/module/bridge") }, "modprobe bridge"},
	{"bridge netfilter (Service traffic between pods on a node)", []string{"CONFIG_BRIDGE_NETFILTER"},
		func(h Host) bool { return h.exists("/proc/sys/net/bridge/bridge-nf-call-iptables") }, "modprobe br_netfilter"},
	{"veth (pods' network links)", []string{"CONFIG_VETH"},
		func(h Host) bool { return h.exists("/sys/module/veth") }, "modprobe veth"},
	{"vxlan (flannel's default backend between nodes)", []string{"CONFIG_VXLAN"},
		func(h Host) bool { return h.exists("/sys/module/vxlan") }, "modprobe vxlan, or --flannel-backend host-gw"},
	{"netfilter NAT and connection tracking (kube-proxy)", []string{"CONFIG_NF_NAT"},
		func(h Host) bool { return h.exists("/proc/sys/net/netfilter/nf_conntrack_max") }, "modprobe nf_nat nf_conntrack"},
	{"iptables or nftables (kube-proxy, flannel)", []string{"CONFIG_IP_NF_IPTABLES", "CONFIG_NF_TABLES"},
		func(h Host) bool {
			return h.exists("/proc/net/ip_tables_names") || h.exists("/sys/module/nf_tables")
		}, "modprobe ip_tables (or nf_tables)"},
	{"network, PID, IPC and UTS namespaces", []string{"CONFIG_NET_NS"},
		func(h Host) bool { return h.exists("/proc/self/ns/net") }, "a kernel with CONFIG_NET_NS, CONFIG_PID_NS, CONFIG_IPC_NS, CONFIG_UTS_NS"},
	{"seccomp (RuntimeDefault profiles)", []string{"CONFIG_SECCOMP"},
		func(h Host) bool { return fileHas(h.path("/proc/self/status"), "Seccomp:") }, "a kernel with CONFIG_SECCOMP"},
}

// Run runs every check.
func Run(h Host) []Result {
	if h.LookPath == nil {
		h.LookPath = exec.LookPath
	}
	var out []Result
	config, configErr := kernelConfig(h)
	for _, f := range kernelFeatures {
		out = append(out, checkKernel(h, f, config, configErr))
	}
	out = append(out, checkCgroups(h))
	out = append(out, checkCommands(h)...)
	out = append(out, checkCapabilities(h)...)
	out = append(out, checkSwap(h))
	out = append(out, checkMemory(h)...)
	out = append(out, checkDisk(h))
	return out
}

// Failed reports whether any result is a fail.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// kernelConfig reads the running kernel's options: /proc/config.gz, else
// /boot/config-<release>.
func kernelConfig(h Host) (map[string]string, error) {
	var data []byte
	if f, err := os.Open(h.path("/proc/config.gz")); err == nil {
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, err
		}
	} else {
		var uts unix.Utsname
		if err := unix.Uname(&uts); err != nil {
			return nil, err
		}
		release := unix.ByteSliceToString(uts.Release[:])
		if data, err = os.ReadFile(h.path("/boot/config-" + release)); err != nil {
			return nil, err
		}
	}
	opts := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.HasPrefix(k, "CONFIG_") {
			opts[k] = v
		}
	}
	return opts, nil
}

func checkKernel(h Host, f kernelFeature, config map[string]string, configErr error) Result {
	r := Result{What: f.what}
	if configErr == nil {
		for _, o := range f.options {
			switch config[o] {
			case "y":
				r.Status = Pass
				return r
			case "m":
				if f.live(h) {
					r.Status = Pass
					return r
				}
				r.Status, r.Detail = Warn, fmt.Sprintf("%s is a module that is not loaded; load it (%s) and list it in /etc/modules-load.d", o, f.fix)
			}
		}
		if r.Status == Warn {
			return r
		}
		r.Status, r.Detail = Fail, fmt.Sprintf("the kernel has no %s; %s", strings.Join(f.options, " or "), f.fix)
		return r
	}
	if f.live(h) {
		r.Status = Pass
		return r
	}
	r.Status, r.Detail = Warn, fmt.Sprintf("not seen, and the kernel's configuration is not readable (%v); %s", configErr, f.fix)
	return r
}

// checkCgroups: v2 with the cpu, memory and pids controllers, or v1 with
// those hierarchies mounted.
func checkCgroups(h Host) Result {
	r := Result{What: "cgroups (cpu, memory, pids)"}
	need := []string{"cpu", "memory", "pids"}
	if data, err := os.ReadFile(h.path("/sys/fs/cgroup/cgroup.controllers")); err == nil {
		have := strings.Fields(string(data))
		var missing []string
		for _, c := range need {
			if !contains(have, c) {
				missing = append(missing, c)
			}
		}
		if len(missing) == 0 {
			r.Status, r.Detail = Pass, "v2"
			return r
		}
		r.Status, r.Detail = Fail, fmt.Sprintf("cgroup v2 lacks the %s controller(s); enable them (kernel command line, or the parent's cgroup.subtree_control)", strings.Join(missing, ", "))
		return r
	}
	var missing []string
	for _, c := range need {
		if !h.exists("/sys/fs/cgroup/" + c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		r.Status, r.Detail = Fail, fmt.Sprintf("no cgroup v2, and cgroup v1 lacks %s under /sys/fs/cgroup; mount the cgroup hierarchies (a systemd host does)", strings.Join(missing, ", "))
		return r
	}
	r.Status, r.Detail = Warn, "v1: works, but the kubelet calls it deprecated (kite sets failCgroupV1: false); boot with systemd.unified_cgroup_hierarchy=1 for v2"
	return r
}

func checkCommands(h Host) []Result {
	var out []Result
	if _, err := h.LookPath("iptables"); err == nil {
		out = append(out, Result{Status: Pass, What: "iptables command"})
	} else {
		out = append(out, Result{Status: Fail, What: "iptables command", Detail: "not found; kube-proxy and flannel need it: install iptables (Debian: apt-get install iptables)"})
	}
	if _, err := h.LookPath("nft"); err == nil {
		out = append(out, Result{Status: Pass, What: "nft command"})
	} else {
		out = append(out, Result{Status: Warn, What: "nft command", Detail: "not found; only needed for --kube-proxy-arg=proxy-mode=nftables: install nftables"})
	}
	return out
}

// Capabilities kite's node uses (bit numbers from linux/capability.h).
var capabilities = []struct {
	bit    uint
	name   string
	status Status
	effect string
}{
	{21, "CAP_SYS_ADMIN", Fail, "mounts, namespaces and cgroups of pods; run kite as root, outside a restricted container"},
	{12, "CAP_NET_ADMIN", Fail, "the pod network and kube-proxy's rules; run kite as root"},
	{24, "CAP_SYS_RESOURCE", Warn, "kite cannot raise limits or lower OOM scores: containerd runs with restrict_oom_score_adj (pods keep the score the kubelet asks for or higher) and the kubelet logs rlimit errors; harmless, but pods may be chosen by the OOM killer before kite"},
}

func checkCapabilities(h Host) []Result {
	data, err := os.ReadFile(h.path("/proc/self/status"))
	if err != nil {
		return []Result{{Status: Warn, What: "capabilities", Detail: err.Error()}}
	}
	var eff uint64
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			eff, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	var out []Result
	for _, c := range capabilities {
		if eff&(1<<c.bit) != 0 {
			out = append(out, Result{Status: Pass, What: "capability " + c.name})
		} else {
			out = append(out, Result{Status: c.status, What: "capability " + c.name, Detail: "missing: " + c.effect})
		}
	}
	return out
}

func checkSwap(h Host) Result {
	data, err := os.ReadFile(h.path("/proc/swaps"))
	if err != nil || len(strings.Split(strings.TrimSpace(string(data)), "\n")) <= 1 {
		return Result{Status: Pass, What: "swap off"}
	}
	return Result{Status: Warn, What: "swap on", Detail: "kite runs the kubelet with failSwapOn: false, and pods' memory may be swapped out; swapoff -a (and remove it from /etc/fstab) for predictable pods"}
}

// checkMemory compares the memory kite may use (the tightest cgroup limit
// over it, else the machine's) with what a server with its node and an
// agent are measured to need, then looks at what is free now.
func checkMemory(h Host) []Result {
	server, agent := memlimit.ServerMinimum>>20, memlimit.AgentMinimum>>20
	var out []Result
	if lim, err := memlimit.Detect(h.Root); err != nil {
		out = append(out, Result{Status: Warn, What: "memory limit", Detail: err.Error()})
	} else {
		r := Result{What: fmt.Sprintf("memory limit (%d MB, %s)", lim.MB(), lim.Source)}
		switch {
		case lim.MB() < agent:
			r.Status, r.Detail = Fail, fmt.Sprintf("a kite agent needs %d MB, a server with its node %d MB (docs/small-boards.md); give kite more memory", agent, server)
		case lim.MB() < server:
			r.Status, r.Detail = Warn, fmt.Sprintf("enough for a kite agent (%d MB), not for a server with its node (%d MB, docs/small-boards.md): run the server elsewhere", agent, server)
		default:
			r.Status = Pass
		}
		out = append(out, r)
	}
	avail := meminfo(h, "MemAvailable")
	r := Result{What: fmt.Sprintf("free memory (%d MB available)", avail/1024)}
	switch {
	case avail < 0:
		r.What, r.Status, r.Detail = "free memory", Warn, "cannot read /proc/meminfo"
	case avail < agent*1024:
		r.Status, r.Detail = Fail, fmt.Sprintf("a kite server with its node needs %d MB, an agent %d MB; free some memory", server, agent)
	case avail < server*1024:
		r.Status, r.Detail = Warn, fmt.Sprintf("enough for a kite agent (%d MB), not for a server with its node (%d MB); free some memory", agent, server)
	default:
		r.Status = Pass
	}
	return append(out, r)
}

func meminfo(h Host, key string) int64 {
	data, err := os.ReadFile(h.path("/proc/meminfo"))
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// checkDisk looks at the free space where the data dir is (or would be).
func checkDisk(h Host) Result {
	dir := h.DataDir
	for dir != "/" && dir != "." {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		dir = filepath.Dir(dir)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Result{Status: Warn, What: "disk space under " + h.DataDir, Detail: err.Error()}
	}
	free := int64(st.Bavail) * int64(st.Bsize) / (1 << 20)
	r := Result{What: fmt.Sprintf("disk space under %s (%d MB free)", h.DataDir, free)}
	switch {
	case free < 1024:
		r.Status, r.Detail = Fail, "kite, its images and the datastore need at least 1 GB; free some space or pass --data-dir elsewhere"
	case free < 4096:
		r.Status, r.Detail = Warn, "room for few images; the kubelet starts deleting images at 85% use"
	default:
		r.Status = Pass
	}
	return r
}

func fileHas(path, s string) bool {
	data, err := os.ReadFile(path)
	return err == nil && bytes.Contains(data, []byte(s))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
