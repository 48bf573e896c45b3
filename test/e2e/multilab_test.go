package e2e

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// multiLab is a network of several hosts: each host namespace has one veth
// to a bridge in a router namespace of ours. The router routes nowhere:
// nothing leaves the machine.
type multiLab struct {
	prefix string
	router string
	hosts  map[string]string // name -> namespace
	ips    map[string]string // name -> address
}

const multiLabRouterIP = "198.18.1.1"

// newMultiLab makes hosts named names, with addresses 198.18.1.11, .12, …
func newMultiLab(names ...string) (*multiLab, error) {
	id := os.Getpid()
	l := &multiLab{
		prefix: fmt.Sprintf("kite-e2e-%d-", id),
		hosts:  map[string]string{},
		ips:    map[string]string{},
	}
	l.router = l.prefix + "mrouter"
	steps := [][]string{
		{"netns", "add", l.router},
		{"-n", l.router, "link", "set", "lo", "up"},
		{"-n", l.router, "link", "add", "br0", "type", "bridge"},
		{"-n", l.router, "addr", "add", multiLabRouterIP + "/24", "dev", "br0"},
		{"-n", l.router, "link", "set", "br0", "up"},
	}
	for i, name := range names {
		ns := l.prefix + name
		ip := fmt.Sprintf("198.18.1.%d", 11+i)
		l.hosts[name], l.ips[name] = ns, ip
		peer := fmt.Sprintf("kte%dm%d", id, i)
		steps = append(steps,
			[]string{"netns", "add", ns},
			[]string{"link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", peer, "netns", l.router},
			[]string{"-n", l.router, "link", "set", peer, "master", "br0"},
			[]string{"-n", l.router, "link", "set", peer, "up"},
			[]string{"-n", ns, "link", "set", "lo", "up"},
			[]string{"-n", ns, "addr", "add", ip + "/24", "dev", "eth0"},
			[]string{"-n", ns, "link", "set", "eth0", "up"},
			[]string{"-n", ns, "route", "add", "default", "via", multiLabRouterIP},
		)
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			l.close()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return l, nil
}

// close deletes the namespaces, and with them the links.
func (l *multiLab) close() {
	for _, ns := range l.hosts {
		exec.Command("ip", "netns", "del", ns).Run()
	}
	exec.Command("ip", "netns", "del", l.router).Run()
}

// command returns cmd run on host (nsenter, not `ip netns exec`, which
// remounts /sys).
func (l *multiLab) command(host, name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + l.hosts[host], "--", name}, args...)...)
}

// listenOnRouter listens on the router's address: an address outside the
// cluster, for pods to reach through their node's masquerade.
func (l *multiLab) listenOnRouter(port int) (net.Listener, error) {
	return listenIn("/run/netns/"+l.router, fmt.Sprintf("%s:%d", multiLabRouterIP, port))
}

// listenIn opens a TCP listener inside the network namespace at nsPath:
// a socket stays in the namespace it was made in.
func listenIn(nsPath, addr string) (net.Listener, error) {
	return inNetns(nsPath, func() (net.Listener, error) { return net.Listen("tcp", addr) })
}

// inNetns runs open (which makes a socket) inside the network namespace at
// nsPath, and returns what it made.
func inNetns[T io.Closer](nsPath string, open func() (T, error)) (T, error) {
	var none T
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return none, err
	}
	defer self.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		runtime.UnlockOSThread()
		return none, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return none, err
	}
	made, openErr := open()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// This thread is stuck in the other namespace: leave it locked,
		// so the runtime ends it with this goroutine.
		if openErr == nil {
			made.Close()
		}
		return none, fmt.Errorf("cannot return to the test's namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return made, openErr
}

// removeCgroupRoot removes a kubelet's cgroup root from every hierarchy
// (cgroup v1: one per controller; v2: the one), deepest first (what is
// left there is empty once killall has run).
func removeCgroupRoot(root string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", root))
	for _, top := range append(dirs, filepath.Join("/sys/fs/cgroup", root)) {
		removeCgroupTree(top)
	}
}

// removeCgroupTree removes a cgroup and the cgroups under it.
func removeCgroupTree(top string) {
	var all []string
	filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			all = append(all, p)
		}
		return nil
	})
	for i := len(all) - 1; i >= 0; i-- {
		os.Remove(all[i])
	}
}

// labNodes makes a multi-lab of hosts for kite nodes: each host gets a data
// dir (busybox in its airgap folder) and a kubelet cgroup root, which
// killall and removeCgroupRoot clean up when the test ends, before the lab
// goes. on(host) runs programs on that host.
func labNodes(t *testing.T, hosts ...string) (ml *multiLab, dirs map[string]string, cgroupRoot func(string) string, on func(string) func(string, ...string) *exec.Cmd) {
	t.Helper()
	ml, err := newMultiLab(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ml.close) // registered first: runs last
	on = func(host string) func(string, ...string) *exec.Cmd {
		return func(name string, args ...string) *exec.Cmd { return ml.command(host, name, args...) }
	}
	cgroupRoot = func(host string) string { return fmt.Sprintf("/kite-e2e-%d-%s", os.Getpid(), host) }
	dirs = map[string]string{}
	for _, h := range hosts {
		dirs[h] = withBusybox(t, shortTempDir(t))
		t.Cleanup(func() {
			if out, err := ml.command(h, filepath.Join(repoRoot, "scripts", "killall"), dirs[h]).CombinedOutput(); err != nil {
				t.Errorf("killall on %s: %v: %s", h, err, out)
			}
			removeCgroupRoot(cgroupRoot(h))
		})
	}
	return ml, dirs, cgroupRoot, on
}
