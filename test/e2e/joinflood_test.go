package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// joinflood is test/bench/joinflood, made-up join requests.
func joinflood(t *testing.T) string { return benchTool(t, "joinflood") }

// The flood's hosts on the multi-node lab's bridge: the flooder has
// floodSources addresses from floodFirstIP up, the joining agent one
// address of its own.
const (
	floodFirstIP   = "198.18.1.100"
	floodSources   = 50
	floodJoinerIP  = "198.18.1.40"
	floodClients   = 500
	floodJoinBound = 2 * time.Minute // a quiet join to Ready: ~3 s
)

// addLabHost adds a host (namespace) named name to ml with the given
// addresses on its veth to the lab's bridge; it is removed when t ends.
func addLabHost(t *testing.T, ml *multiLab, name string, ips ...string) {
	t.Helper()
	ns := ml.prefix + name
	peer := fmt.Sprintf("kte%dj%d", os.Getpid(), len(ml.hosts))
	steps := [][]string{
		{"netns", "add", ns},
		{"link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", peer, "netns", ml.router},
		{"-n", ml.router, "link", "set", peer, "master", "br0"},
		{"-n", ml.router, "link", "set", peer, "up"},
		{"-n", ns, "link", "set", "lo", "up"},
	}
	for _, ip := range ips {
		steps = append(steps, []string{"-n", ns, "addr", "add", ip + "/24", "dev", "eth0"})
	}
	steps = append(steps,
		[]string{"-n", ns, "link", "set", "eth0", "up"},
		[]string{"-n", ns, "route", "add", "default", "via", multiLabRouterIP})
	ml.hosts[name], ml.ips[name] = ns, ips[0]
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", ns).Run()
		delete(ml.hosts, name)
		delete(ml.ips, name)
	})
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
}

// floodJoinsWhileAgentJoins: floodClients clients send made-up join
// requests (bootstrap-shaped tokens of random IDs) to the server at url,
// back to back, from floodSources addresses of a host of their own, while
// a new agent joins from another host with token. The agent's node must
// be Ready within floodJoinBound; meanwhile the server's own controllers
// keep working (NodeHosts writes the new node's line into CoreDNS's
// ConfigMap, `kite token list` answers), and no join attempt makes the
// server fail (no 5xx, no "join failed" in its log). The agent and its
// node are removed again at the end.
func floodJoinsWhileAgentJoins(t *testing.T, ml *multiLab, srv *server, url, token string) {
	flooderIPs := make([]string, floodSources)
	for i := range flooderIPs {
		ip := net.ParseIP(floodFirstIP).To4()
		ip[3] += byte(i)
		flooderIPs[i] = ip.String()
	}
	addLabHost(t, ml, "flooder", flooderIPs...)
	addLabHost(t, ml, "joiner", floodJoinerIP)

	// The flood, until stopped (SIGINT makes it print its counts).
	var floodOut, floodErr bytes.Buffer
	flood := ml.command("flooder", joinflood(t), "-server", url, "-insecure", "-concurrency", fmt.Sprint(floodClients),
		"-duration", "30m", "-src", floodFirstIP, "-src-count", fmt.Sprint(floodSources))
	flood.Stdout, flood.Stderr = &floodOut, &floodErr
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	floodDone := make(chan struct{})
	go func() { flood.Wait(); close(floodDone) }()
	stopFlood := func() {
		flood.Process.Signal(os.Interrupt)
		select {
		case <-floodDone:
		case <-time.After(time.Minute):
			flood.Process.Kill()
			<-floodDone
		}
	}
	defer stopFlood()
	eventually(t, time.Minute, "the flood reaching the server", func() error {
		log := srv.stderr.String()
		for _, ip := range flooderIPs {
			if strings.Contains(log, "source="+ip+":") {
				return nil
			}
		}
		return fmt.Errorf("no refusal from %s… in the server's log yet; joinflood: %s", floodFirstIP, floodErr.String())
	})

	// A real agent joins meanwhile.
	dir := shortTempDir(t)
	cg := fmt.Sprintf("/kite-e2e-%d-joiner", os.Getpid())
	t.Cleanup(func() {
		if out, err := ml.command("joiner", filepath.Join(repoRoot, "scripts", "killall"), dir).CombinedOutput(); err != nil {
			t.Errorf("killall: %v: %s", err, out)
		}
		removeCgroupRoot(cg)
	})
	on := func(name string, args ...string) *exec.Cmd { return ml.command("joiner", name, args...) }
	t0 := time.Now()
	agent := startKite(t, on, "node is Ready", dir, srv.kubeconfig, "agent", "--server", url, "--token", token,
		"--data-dir", dir, "--node-name", "joiner", "--kubelet-arg", "cgroup-root="+cg)
	for !strings.Contains(agent.stderr.String(), agent.readyLine) {
		select {
		case <-agent.exited:
			t.Fatalf("the agent exited during the flood (%v):\n%s", agent.exitErr, tail(agent.stderr.String(), 6000))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Since(t0) > floodJoinBound {
			t.Fatalf("the agent's node is not Ready %v into the flood:\n%s", floodJoinBound, tail(agent.stderr.String(), 6000))
		}
	}
	t.Logf("during the flood, the agent's node was Ready %v after its start", time.Since(t0).Round(time.Millisecond))

	// The server's controllers still work, the flood still on.
	eventually(t, time.Minute, "NodeHosts naming the new node", func() error {
		hosts, err := srv.kubectl("-n", "kube-system", "get", "configmap", "coredns", "-o", "jsonpath={.data.NodeHosts}")
		if err == nil && !strings.Contains(hosts, floodJoinerIP+" joiner\n") {
			err = fmt.Errorf("NodeHosts %q", hosts)
		}
		return err
	})
	if _, err := srv.kite("token", "list"); err != nil {
		t.Errorf("kite token list during the flood: %v", err)
	}
	select {
	case <-floodDone:
		t.Fatalf("joinflood ended early: %s %s", floodOut.String(), floodErr.String())
	default:
	}

	stopFlood()
	var res struct {
		Requests int            `json:"requests"`
		ByAnswer map[string]int `json:"by_answer"`
		P99Ms    float64        `json:"p99_ms"`
	}
	if err := json.Unmarshal(floodOut.Bytes(), &res); err != nil {
		t.Fatalf("joinflood's output %q: %v (%s)", floodOut.String(), err, floodErr.String())
	}
	t.Logf("the flood: %d requests, answers %v, p99 %.0f ms", res.Requests, res.ByAnswer, res.P99Ms)
	if res.ByAnswer["401"]+res.ByAnswer["429"] < floodClients {
		t.Errorf("the flood got only %v: it did not run", res.ByAnswer)
	}
	for answer, n := range res.ByAnswer {
		if answer != "401" && answer != "429" && answer != "error" {
			t.Errorf("%d made-up joins were answered %s", n, answer)
		}
	}
	if log := srv.stderr.String(); strings.Contains(log, `msg="join failed"`) {
		t.Errorf("the server failed a join during the flood:\n%s", tail(log, 3000))
	}

	if code := agent.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("kite agent exited %d", code)
	}
	srv.mustKubectl(t, "delete", "node", "joiner")
}
