package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFlannelHostGW: with --flannel-backend host-gw, pods on two nodes
// reach each other over plain routes to the other node, with no vxlan.
// The agent names its interface (--flannel-iface).
func TestFlannelHostGW(t *testing.T) {
	hosts := []string{"gw-server", "gw-agent"}
	ml, err := newMultiLab(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ml.close)
	on := func(host string) func(string, ...string) *exec.Cmd {
		return func(name string, args ...string) *exec.Cmd { return ml.command(host, name, args...) }
	}
	dirs := map[string]string{}
	for _, h := range hosts {
		dirs[h] = withBusybox(t, t.TempDir())
		cg := fmt.Sprintf("/kite-e2e-%d-%s", os.Getpid(), h)
		t.Cleanup(func() {
			ml.command(h, filepath.Join(repoRoot, "scripts", "killall"), dirs[h]).Run()
			removeCgroupRoot(cg)
		})
	}
	cgroupArg := func(h string) string { return fmt.Sprintf("cgroup-root=/kite-e2e-%d-%s", os.Getpid(), h) }
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	srv := startKite(t, on("gw-server"), "kite server is ready", dirs["gw-server"], kubeconfig,
		"server", "--data-dir", dirs["gw-server"], "--write-kubeconfig", kubeconfig, "--node-name", "gw-server",
		"--flannel-backend", "host-gw", "--kubelet-arg", cgroupArg("gw-server"))
	srv.waitReady()
	agent := startKite(t, on("gw-agent"), "node is Ready", dirs["gw-agent"], kubeconfig,
		"agent", "--server", "https://"+ml.ips["gw-server"]+":6443", "--token-file", filepath.Join(dirs["gw-server"], "server", "token"),
		"--data-dir", dirs["gw-agent"], "--node-name", "gw-agent", "--kubelet-arg", cgroupArg("gw-agent"), "--flannel-iface", "eth0")
	agent.waitReady()

	srv.mustKubectl(t, "create", "namespace", "e2e")
	for _, h := range hosts {
		apply(t, srv, fmt.Sprintf(pinnedWebPod, h))
	}
	waitPodsReady(t, srv, "app=web", 2)
	agentPodIP := srv.mustKubectl(t, "-n", "e2e", "get", "pod", "web-gw-agent", "-o", "jsonpath={.status.podIP}")
	agentCIDR := srv.mustKubectl(t, "get", "node", "gw-agent", "-o", "jsonpath={.spec.podCIDR}")
	eventually(t, time.Minute, "the agent's pod from the server's pod", func() error {
		out, err := srv.kubectl("-n", "e2e", "exec", "web-gw-server", "--", "sh", "-c", fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 %s 8080 | tail -1`, agentPodIP))
		if err == nil && strings.TrimSpace(out) != "hello from gw-agent" {
			err = fmt.Errorf("answer %q", out)
		}
		return err
	})
	routes, _ := ml.command("gw-server", "ip", "route").CombinedOutput()
	if want := agentCIDR + " via " + ml.ips["gw-agent"]; !strings.Contains(string(routes), want) {
		t.Errorf("no host-gw route %q on the server:\n%s", want, routes)
	}
	if out, err := ml.command("gw-server", "ip", "link", "show", "flannel.1").CombinedOutput(); err == nil {
		t.Errorf("host-gw made a vxlan device: %s", out)
	}
}

// TestFlannelNone: --flannel-backend none writes no pod network: the node
// becomes Ready once the user's own CNI configuration appears.
func TestFlannelNone(t *testing.T) {
	dataDir := withBusybox(t, t.TempDir())
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	t.Cleanup(func() {
		killall(t, dataDir)
		// What killall does not know: the user's network.
		theLab.command("ip", "link", "delete", "usercni0").Run()
		results, _ := filepath.Glob("/var/lib/cni/results/user-*")
		for _, r := range results {
			// user-<sandbox ID>-eth0, and the loopback's of the same sandbox.
			if id := strings.Split(strings.TrimPrefix(filepath.Base(r), "user-"), "-")[0]; id != "" {
				loopback, _ := filepath.Glob("/var/lib/cni/results/cni-loopback-" + id + "-*")
				for _, l := range loopback {
					os.Remove(l)
				}
			}
			os.Remove(r)
		}
	})
	srv := startServer(t, dataDir, kubeconfig, "--node-name", "kite-none", "--flannel-backend", "none")
	eventually(t, 2*time.Minute, "the node registered", func() error {
		_, err := srv.kubectl("get", "node", "kite-none")
		return err
	})
	confDir := filepath.Join(dataDir, "agent", "etc", "cni", "net.d")
	if entries, _ := os.ReadDir(confDir); len(entries) != 0 {
		t.Fatalf("kite wrote a CNI configuration with --flannel-backend none: %v", entries)
	}
	if out, _ := srv.kubectl("get", "node", "kite-none", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`); out == "True" {
		t.Fatal("the node is Ready without any pod network")
	}
	if strings.Contains(srv.stderr.String(), "kite server is ready") {
		t.Fatal("kite server said ready without a pod network")
	}
	// The user's own CNI: a bridge of its own, from the plugins kite ships.
	userConf := `{"cniVersion": "1.0.0", "name": "user", "plugins": [{"type": "bridge", "bridge": "usercni0", "isGateway": true, "ipMasq": true,
	  "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24"}]], "dataDir": "` + filepath.Join(dataDir, "user-ipam") + `"}}]}`
	if err := os.WriteFile(filepath.Join(confDir, "10-user.conflist"), []byte(userConf), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.waitReady()
	srv.mustKubectl(t, "create", "namespace", "e2e")
	apply(t, srv, fmt.Sprintf(pinnedWebPod, "kite-none"))
	waitPodsReady(t, srv, "app=web", 1)
	if ip := srv.mustKubectl(t, "-n", "e2e", "get", "pod", "web-kite-none", "-o", "jsonpath={.status.podIP}"); !strings.HasPrefix(ip, "10.99.0.") {
		t.Fatalf("pod IP %q does not come from the user's network", ip)
	}
}
