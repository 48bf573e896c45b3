package e2e

import (
	"crypto/x509"
	"encoding/pem"
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

const pinnedWebPod = `apiVersion: v1
kind: Pod
metadata: {name: web-%[1]s, namespace: e2e, labels: {app: web}}
spec:
  nodeName: %[1]s
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: kite.local/busybox:1.35
    imagePullPolicy: Never
    command: ["sh", "-c", "echo web-started on %[1]s; echo hello from %[1]s > /www/index.html; exec httpd -f -p 8080 -h /www"]
`

// TestMultiNode: one server and two agents, each on a host (network
// namespace) of its own. The agents join with the server token and with a
// bootstrap token; bad tokens are refused; pods on different nodes reach
// each other over flannel; the server reaches an agent's kubelet only
// through the agent's tunnel; restarts of an agent and of the server keep
// every pod running.
func TestMultiNode(t *testing.T) {
	hosts := []string{"server", "agent1", "agent2"}
	ml, dirs, cgroupRoot, on := labNodes(t, hosts...)
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	serverArgs := []string{"server", "--data-dir", dirs["server"], "--write-kubeconfig", kubeconfig,
		"--node-name", "server", "--agent-token", "e2e-agent-secret", "--kubelet-arg", "cgroup-root=" + cgroupRoot("server")}
	srv := startKite(t, on("server"), "kite server is ready", dirs["server"], kubeconfig, serverArgs...)
	srv.waitReady()
	serverToken := readToken(t, filepath.Join(dirs["server"], "server", "token"))
	agentToken := readToken(t, filepath.Join(dirs["server"], "server", "agent-token"))
	if !strings.HasSuffix(agentToken, "::node:e2e-agent-secret") {
		t.Fatalf("agent token %q", agentToken)
	}
	caHash := strings.TrimPrefix(strings.Split(serverToken, "::")[0], "K10")
	url := "https://" + ml.ips["server"] + ":6443"
	agentArgs := func(host, token string) []string {
		return []string{"agent", "--server", url, "--token", token, "--data-dir", dirs[host], "--node-name", host,
			"--kubelet-arg", "cgroup-root=" + cgroupRoot(host)}
	}

	t.Run("bad tokens are refused and nothing is written", func(t *testing.T) {
		secret := serverToken[strings.LastIndex(serverToken, ":")+1:]
		for _, c := range []struct{ name, token, want string }{
			{"malformed", "K10abc::server:x", "not a SHA-256"},
			{"wrong secret", "K10" + caHash + "::server:wrong", "the server refused the token"},
			{"wrong CA hash", "K10" + strings.Repeat("ab", 32) + "::server:" + secret, "no secret was sent"},
		} {
			dir := filepath.Join(shortTempDir(t), "node")
			code, out := runKiteIn(t, on("agent2"), "agent", "--server", url, "--token", c.token, "--data-dir", dir, "--node-name", "agent2")
			assertFailed(t, code, out, c.want)
			assertAbsent(t, dir)
		}
		// The server logs each refusal with where it came from.
		if log := srv.stderr.String(); !strings.Contains(log, `msg="join refused"`) || !strings.Contains(log, "source="+ml.ips["agent2"]+":") {
			t.Errorf("no refusal with agent2's address (%s) in the server's log", ml.ips["agent2"])
		}
		dir := filepath.Join(shortTempDir(t), "server")
		code, out := runKiteIn(t, on("agent2"), "server", "--data-dir", dir, "--token", agentToken, "--write-kubeconfig", filepath.Join(dir+"-kc", "k.yaml"))
		assertFailed(t, code, out, "agent token")
		assertAbsent(t, dir)
		// A second server needs etcd: this cluster is in SQLite.
		code, out = runKiteIn(t, on("agent2"), "server", "--server", url, "--token", serverToken, "--data-dir", dir, "--write-kubeconfig", filepath.Join(dir+"-kc", "k.yaml"))
		assertFailed(t, code, out, "keeps its cluster in SQLite", "--cluster-init")
		assertAbsent(t, filepath.Join(dir, "server", "tls"))
		assertAbsent(t, filepath.Join(dir, "server", "db"))
	})

	t.Run("an unreachable server is retried and said so", func(t *testing.T) {
		dir := filepath.Join(shortTempDir(t), "node")
		a := startKite(t, on("agent2"), "never", dir, kubeconfig, "agent", "--server", "https://198.18.1.99:6443", "--token", serverToken, "--data-dir", dir, "--node-name", "agent2")
		eventually(t, time.Minute, "a retry message", func() error {
			if log := a.stderr.String(); strings.Count(log, "cannot reach the server; retrying") < 2 {
				return fmt.Errorf("log so far:\n%s", log)
			}
			return nil
		})
		if code := a.stop(syscall.SIGTERM); code != 0 {
			t.Errorf("kite agent stopped while retrying exited %d:\n%s", code, a.stderr.String())
		}
		assertAbsent(t, dir)
	})

	// The agents are the whole test's processes, so they are started here,
	// not in a subtest (whose end would stop them).
	agents := map[string]*server{}
	agents["agent1"] = startKite(t, on("agent1"), "node is Ready", dirs["agent1"], kubeconfig, agentArgs("agent1", serverToken)...)
	out, err := srv.kite("token", "create", "--ttl", "1h", "--description", "e2e")
	if err != nil {
		t.Fatal(err)
	}
	bootstrap := strings.TrimSpace(out)
	if !strings.HasPrefix(bootstrap, "K10"+caHash+"::") {
		t.Fatalf("kite token create printed %q", bootstrap)
	}
	agents["agent2"] = startKite(t, on("agent2"), "node is Ready", dirs["agent2"], kubeconfig, agentArgs("agent2", bootstrap)...)
	agents["agent1"].waitReady()
	agents["agent2"].waitReady()
	waitNodesReady(t, srv, hosts...)

	t.Run("500 concurrent bogus joins while an agent joins", func(t *testing.T) {
		floodJoinsWhileAgentJoins(t, ml, srv, url, bootstrap)
	})

	t.Run("an agent keeps its secrets to itself", func(t *testing.T) {
		assertMode(t, filepath.Join(dirs["agent1"], "agent", "node-password"), 0o600)
		for _, name := range []string{"kubelet-client", "kubelet-serving", "kube-proxy-client"} {
			assertMode(t, filepath.Join(dirs["agent1"], "agent", "tls", name+".key"), 0o600)
		}
		if keys, _ := filepath.Glob(filepath.Join(dirs["agent1"], "agent", "tls", "*ca*.key")); len(keys) != 0 {
			t.Fatalf("the agent holds CA keys: %v", keys)
		}
	})

	t.Run("a name taken by another node is refused", func(t *testing.T) {
		dir := filepath.Join(shortTempDir(t), "node")
		// agent2's host: another port for its load balancer.
		code, out := runKiteIn(t, on("agent2"), "agent", "--server", url, "--token", serverToken, "--data-dir", dir, "--node-name", "agent1", "--lb-server-port", "7444")
		assertFailed(t, code, out, "taken by another node")
		assertAbsent(t, dir)
	})

	t.Run("--with-node-id gives a taken name a suffix of its own", func(t *testing.T) {
		// A fourth node, on the router's namespace (no default route there:
		// it names its IP), stopped again at once; killall cleans it up
		// with the others at the end.
		dir, cg, inRouter := routerNode(t, ml, "router")
		a := startKite(t, inRouter, "node is Ready", dir, kubeconfig, "agent", "--server", url, "--token", serverToken, "--data-dir", dir,
			"--node-name", "agent1", "--with-node-id", "--node-ip", multiLabRouterIP, "--kubelet-arg", "cgroup-root="+cg)
		a.waitReady()
		id, err := os.ReadFile(filepath.Join(dir, "agent", "node-id"))
		if err != nil {
			t.Fatal(err)
		}
		name := "agent1-" + strings.TrimSpace(string(id))
		if out := srv.mustKubectl(t, "get", "node", name, "-o", "name"); strings.TrimSpace(out) != "node/"+name {
			t.Fatalf("node %s: %q", name, out)
		}
		if code := a.stop(syscall.SIGTERM); code != 0 {
			t.Errorf("kite agent exited %d", code)
		}
		srv.mustKubectl(t, "delete", "node", name)
	})

	t.Run("a node's serving certificate is good for its kubelet only", func(t *testing.T) {
		cert := readCert(t, filepath.Join(dirs["agent1"], "agent", "tls", "kubelet-serving.crt"))
		serverCA := certPool(t, filepath.Join(dirs["server"], "server", "tls", "server-ca.crt"))
		kubeletCA := certPool(t, filepath.Join(dirs["server"], "server", "tls", "kubelet-serving-ca.crt"))
		// Every name a client reaches the API server by: none passes.
		for _, name := range []string{"127.0.0.1", "localhost", "10.43.0.1", "kubernetes.default.svc", ml.ips["server"], ml.ips["agent1"], "agent1"} {
			if _, err := cert.Verify(x509.VerifyOptions{Roots: serverCA, DNSName: name}); err == nil {
				t.Errorf("agent1's kubelet serving certificate passes as the API server at %s", name)
			}
		}
		for _, name := range []string{"agent1", ml.ips["agent1"]} {
			if _, err := cert.Verify(x509.VerifyOptions{Roots: kubeletCA, DNSName: name}); err != nil {
				t.Errorf("agent1's kubelet serving certificate for %s: %v", name, err)
			}
		}
		if len(cert.DNSNames) != 1 || len(cert.IPAddresses) != 1 {
			t.Errorf("agent1's kubelet serving certificate names %v %v; want only agent1 and its IP", cert.DNSNames, cert.IPAddresses)
		}
	})

	t.Run("a join asking for a reserved name or address is refused", func(t *testing.T) {
		for _, c := range []struct{ flag, value, want string }{
			{"--node-name", "kubernetes.default.svc.cluster.local", "reserved"},
			{"--node-name", "198.18.1.99", "is an IP address"},
			{"--node-ip", "10.43.0.1", "service CIDR"},
			{"--node-ip", ml.ips["server"], "address of the API server"},
		} {
			dir := filepath.Join(shortTempDir(t), "node")
			args := []string{"agent", "--server", url, "--token", serverToken, "--data-dir", dir, "--node-name", "agent3", "--lb-server-port", "7444", c.flag, c.value}
			code, out := runKiteIn(t, on("agent2"), args...)
			assertFailed(t, code, out, c.want)
			assertAbsent(t, dir)
		}
	})

	t.Run("kite node remove locks a node out", func(t *testing.T) {
		// A node on the router's namespace, joined with a bootstrap token
		// that is deleted before the removal: a node that joined before
		// may join again with its certificate alone, until it is removed.
		dir, cg, inRouter := routerNode(t, ml, "doomed")
		out, err := srv.kite("token", "create", "--ttl", "1h")
		if err != nil {
			t.Fatal(err)
		}
		tok := strings.TrimSpace(out)
		args := func(token string) []string {
			return []string{"agent", "--server", url, "--token", token, "--data-dir", dir, "--node-name", "doomed",
				"--node-ip", multiLabRouterIP, "--lb-server-port", "7445", "--kubelet-arg", "cgroup-root=" + cg}
		}
		a := startKite(t, inRouter, "node is Ready", dir, kubeconfig, args(tok)...)
		a.waitReady()
		if _, err := srv.kite("token", "delete", strings.Split(strings.Split(tok, "::")[1], ".")[0]); err != nil {
			t.Fatal(err)
		}
		out, err = srv.kite("node", "remove", "doomed")
		if err != nil || !strings.Contains(out, "node doomed removed") {
			t.Fatalf("kite node remove: %v\n%s", err, out)
		}
		// Its kubelet's certificate is refused by the API server, and its
		// Node does not come back (the kubelet keeps trying).
		nodeKubeconfig := filepath.Join(dir, "agent", "etc", "kubelet.kubeconfig")
		for i := 0; i < 6; i++ {
			if out, err := inRouter(kiteBin, "kubectl", "--kubeconfig", nodeKubeconfig, "get", "--raw", "/api/v1/nodes/doomed").CombinedOutput(); err == nil || !strings.Contains(string(out), "node doomed was removed") {
				t.Fatalf("the removed node's kubelet credentials: %v %s", err, out)
			}
			if out, err := srv.kubectl("get", "node", "doomed", "-o", "name"); err == nil {
				t.Fatalf("the removed node came back: %s", out)
			}
			time.Sleep(2 * time.Second)
		}
		if code := a.stop(syscall.SIGTERM); code != 0 {
			t.Errorf("kite agent exited %d", code)
		}
		// Its certificate no longer lets it join: with the deleted token it
		// is refused...
		code, out := runKiteIn(t, inRouter, args(tok)...)
		assertFailed(t, code, out, "refused")
		// ...with a valid token it joins, as a new node.
		a = startKite(t, inRouter, "node is Ready", dir, kubeconfig, args(serverToken)...)
		a.waitReady()
		waitNodesReady(t, srv, "doomed")
		if code := a.stop(syscall.SIGTERM); code != 0 {
			t.Errorf("kite agent exited %d", code)
		}
		srv.mustKubectl(t, "delete", "node", "doomed")
	})

	t.Run("a deleted bootstrap token is refused", func(t *testing.T) {
		id := strings.Split(strings.Split(bootstrap, "::")[1], ".")[0]
		if out, err := srv.kite("token", "list"); err != nil || !strings.Contains(out, id) {
			t.Fatalf("kite token list: %v\n%s", err, out)
		}
		if _, err := srv.kite("token", "delete", id); err != nil {
			t.Fatal(err)
		}
		if out, _ := srv.kite("token", "list"); strings.Contains(out, id) {
			t.Fatalf("deleted token still listed:\n%s", out)
		}
		dir := filepath.Join(shortTempDir(t), "node")
		code, out := runKiteIn(t, on("agent2"), "agent", "--server", url, "--token", bootstrap, "--data-dir", dir, "--node-name", "agent3", "--lb-server-port", "7444")
		assertFailed(t, code, out, "the server refused the token")
		assertAbsent(t, dir)
	})

	srv.mustKubectl(t, "create", "namespace", "e2e")
	for _, h := range hosts {
		apply(t, srv, fmt.Sprintf(pinnedWebPod, h))
	}
	waitPodsReady(t, srv, "app=web", 3)
	podIPs := map[string]string{}
	for _, h := range hosts {
		podIPs[h] = srv.mustKubectl(t, "-n", "e2e", "get", "pod", "web-"+h, "-o", "jsonpath={.status.podIP}")
	}
	httpFromPod := func(pod, addr string) (string, error) {
		return srv.kubectl("-n", "e2e", "exec", pod, "--", "sh", "-c", fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 %s | tail -1`, addr))
	}

	t.Run("pods reach pods on other nodes by pod IP", func(t *testing.T) {
		for _, from := range hosts {
			for _, to := range hosts {
				eventually(t, time.Minute, from+" to "+to, func() error {
					out, err := httpFromPod("web-"+from, podIPs[to]+" 8080")
					if err == nil && strings.TrimSpace(out) != "hello from "+to {
						err = fmt.Errorf("answer %q", out)
					}
					return err
				})
			}
		}
	})

	t.Run("a ClusterIP Service answers from every node", func(t *testing.T) {
		srv.mustKubectl(t, "-n", "e2e", "expose", "pod", "web-server", "--name", "web", "--selector", "app=web", "--port", "80", "--target-port", "8080")
		ip := srv.mustKubectl(t, "-n", "e2e", "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
		answers := map[string]bool{}
		for _, h := range hosts {
			for i := 0; i < 6; i++ {
				eventually(t, time.Minute, "the Service from "+h, func() error {
					out, err := ml.command(h, "curl", "-s", "-m", "3", "http://"+ip+"/").CombinedOutput()
					if err != nil || !strings.HasPrefix(string(out), "hello from ") {
						return fmt.Errorf("%v: %s", err, out)
					}
					answers[strings.TrimSpace(string(out))] = true
					return nil
				})
			}
		}
		if len(answers) != 3 {
			t.Errorf("18 requests reached only %v", answers)
		}
	})

	t.Run("pods reach outside the cluster as their node", func(t *testing.T) {
		ln, err := ml.listenOnRouter(9999)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		peer := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peer <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			c.Close()
		}()
		if _, err := srv.kubectl("-n", "e2e", "exec", "web-agent1", "--", "sh", "-c", "echo hi | nc -w 3 "+multiLabRouterIP+" 9999"); err != nil {
			t.Fatal(err)
		}
		select {
		case ip := <-peer:
			if ip != ml.ips["agent1"] {
				t.Fatalf("the outside saw %s, want agent1's node address %s (masquerade)", ip, ml.ips["agent1"])
			}
		case <-time.After(30 * time.Second):
			t.Fatal("nothing reached the outside address")
		}
	})

	t.Run("logs, exec and port-forward go through the agent's tunnel", func(t *testing.T) {
		// The server can no longer dial agent1's kubelet: only the tunnel,
		// which agent1 opened, can carry these.
		block := []string{"OUTPUT", "-p", "tcp", "-d", ml.ips["agent1"], "--dport", "10250", "-j", "REJECT"}
		if out, err := ml.command("server", "iptables", append([]string{"-I"}, block...)...).CombinedOutput(); err != nil {
			t.Fatalf("iptables: %v: %s", err, out)
		}
		if out, err := ml.command("server", "curl", "-sk", "-m", "3", "https://"+ml.ips["agent1"]+":10250/healthz").CombinedOutput(); err == nil {
			t.Fatalf("the server still reaches agent1's kubelet directly: %s", out)
		}
		if out := srv.mustKubectl(t, "-n", "e2e", "logs", "web-agent1"); !strings.Contains(out, "web-started on agent1") {
			t.Fatalf("logs: %q", out)
		}
		if out := srv.mustKubectl(t, "-n", "e2e", "exec", "web-agent1", "--", "cat", "/www/index.html"); strings.TrimSpace(out) != "hello from agent1" {
			t.Fatalf("exec: %q", out)
		}
		pf := ml.command("server", kiteBin, "kubectl", "-n", "e2e", "port-forward", "pod/web-agent1", "18081:8080")
		pf.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
		if err := pf.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { pf.Process.Kill(); pf.Wait() }()
		eventually(t, time.Minute, "HTTP through port-forward", func() error {
			out, err := ml.command("server", "curl", "-s", "-m", "3", "http://127.0.0.1:18081/").CombinedOutput()
			if err == nil && strings.TrimSpace(string(out)) != "hello from agent1" {
				err = fmt.Errorf("answer %q", out)
			}
			return err
		})
	})

	containersNow := func() string {
		return srv.mustKubectl(t, "-n", "e2e", "get", "pods", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].containerID}/{.status.containerStatuses[0].restartCount} {end}`)
	}
	before := containersNow()

	// An agent restart keeps its pods. It comes back with the agent token,
	// which joins agents too.
	if code := agents["agent1"].stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("kite agent exited %d on SIGTERM", code)
	}
	agents["agent1"] = startKite(t, on("agent1"), "node is Ready", dirs["agent1"], kubeconfig, agentArgs("agent1", agentToken)...)
	agents["agent1"].waitReady()
	waitNodesReady(t, srv, hosts...)
	if after := containersNow(); after != before {
		t.Fatalf("pods changed across the agent's restart:\nbefore %s\nafter  %s", before, after)
	}
	// The restarted kubelet answers exec once it has the pod again from the
	// API server, which may come a moment after its node is Ready.
	eventually(t, time.Minute, "exec after the agent's restart", func() error {
		out, err := srv.kubectl("-n", "e2e", "exec", "web-agent1", "--", "cat", "/www/index.html")
		if err == nil && strings.TrimSpace(out) != "hello from agent1" {
			err = fmt.Errorf("answer %q", out)
		}
		return err
	})

	// A server restart keeps every node and pod.
	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("kite server exited %d on SIGTERM", code)
	}
	srv = startKite(t, on("server"), "kite server is ready", dirs["server"], kubeconfig, serverArgs...)
	srv.waitReady()
	waitNodesReady(t, srv, hosts...)
	// Each agent's tunnel is back: exec reaches agent1 (blocked from the
	// server but for its tunnel) and agent2.
	for _, pod := range []string{"web-agent1", "web-agent2"} {
		eventually(t, time.Minute, "exec in "+pod+" after the server's restart", func() error {
			_, err := srv.kubectl("-n", "e2e", "exec", pod, "--", "true")
			return err
		})
	}
	if after := containersNow(); after != before {
		t.Fatalf("pods changed across the server's restart:\nbefore %s\nafter  %s", before, after)
	}
}

// waitNodesReady waits until each named node is Ready and its kubelet is
// alive: its Lease renewed in the last minute (the Node's own heartbeat
// is posted only every few minutes when nothing changes).
func waitNodesReady(t *testing.T, srv *server, names ...string) {
	t.Helper()
	eventually(t, 3*time.Minute, "nodes Ready", func() error {
		for _, n := range names {
			ready, err := srv.kubectl("get", "node", n, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
			if err != nil {
				return err
			}
			renewed, err := srv.kubectl("-n", "kube-node-lease", "get", "lease", n, "-o", "jsonpath={.spec.renewTime}")
			if err != nil {
				return err
			}
			at, perr := time.Parse(time.RFC3339Nano, renewed)
			if ready != "True" || perr != nil || time.Since(at) > time.Minute {
				return fmt.Errorf("node %s: Ready %q, lease renewed %q", n, ready, renewed)
			}
		}
		return nil
	})
}

// shortTempDir is a temporary folder with a short path: a subtest's
// TempDir is too long for the unix sockets of a node's data dir.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kite-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func assertAbsent(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(path)
		t.Errorf("%s was written (%v entries) by a command that failed", path, len(entries))
	}
}

// routerNode is a data dir and kubelet cgroup root (named after name)
// for a node of a subtest on the lab's router namespace, cleaned up when
// the subtest ends, and a way to run programs there. The namespace has no
// default route: such a node passes --node-ip.
func routerNode(t *testing.T, ml *multiLab, name string) (dir, cgroupRoot string, inRouter func(string, ...string) *exec.Cmd) {
	t.Helper()
	dir = shortTempDir(t)
	cgroupRoot = fmt.Sprintf("/kite-e2e-%d-%s", os.Getpid(), name)
	inRouter = func(name string, args ...string) *exec.Cmd {
		return exec.Command("nsenter", append([]string{"--net=/run/netns/" + ml.router, "--", name}, args...)...)
	}
	t.Cleanup(func() {
		if out, err := inRouter(filepath.Join(repoRoot, "scripts", "killall"), dir).CombinedOutput(); err != nil {
			t.Errorf("killall: %v: %s", err, out)
		}
		removeCgroupRoot(cgroupRoot)
	})
	return dir, cgroupRoot, inRouter
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func certPool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("%s: no certificate", path)
	}
	return pool
}
