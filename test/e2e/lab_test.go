package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// lab is this test run's own network: a node namespace whose only link is a
// veth to a router namespace, also ours. The default route (which kube
// components need to pick a node IP) points at the router, which has no
// route anywhere: nothing can leave the machine.
type lab struct {
	node, router string
	nodeIP       string
}

const (
	labNodeIP   = "198.18.0.11"
	labRouterIP = "198.18.0.1"
)

func newLab() (*lab, error) {
	id := os.Getpid()
	l := &lab{
		node:   fmt.Sprintf("kite-e2e-%d-node", id),
		router: fmt.Sprintf("kite-e2e-%d-router", id),
		nodeIP: labNodeIP,
	}
	nodeIf, routerIf := fmt.Sprintf("kte%dn", id), fmt.Sprintf("kte%dr", id)
	steps := [][]string{
		{"netns", "add", l.node},
		{"netns", "add", l.router},
		{"link", "add", nodeIf, "netns", l.node, "type", "veth", "peer", "name", routerIf, "netns", l.router},
		{"-n", l.node, "link", "set", "lo", "up"},
		{"-n", l.router, "link", "set", "lo", "up"},
		{"-n", l.node, "addr", "add", labNodeIP + "/24", "dev", nodeIf},
		{"-n", l.router, "addr", "add", labRouterIP + "/24", "dev", routerIf},
		{"-n", l.node, "link", "set", nodeIf, "up"},
		{"-n", l.router, "link", "set", routerIf, "up"},
		{"-n", l.node, "route", "add", "default", "via", labRouterIP},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			l.close()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return l, nil
}

// close deletes both namespaces, and with them the veth pair.
func (l *lab) close() {
	for _, ns := range []string{l.node, l.router} {
		exec.Command("ip", "netns", "del", ns).Run()
	}
}

// command returns cmd run inside the node namespace. nsenter, not
// `ip netns exec`, which remounts /sys.
func (l *lab) command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + l.node, "--", name}, args...)...)
}
