package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHAControlPlane: three kite servers on embedded etcd are one control
// plane. The second and third join the first with the server token (a
// mismatched setting is refused first, and nothing written); an agent
// joins. kill -9 of the etcd leader's server while a client writes through
// another loses no acknowledged write; the others keep serving, the nodes
// stay Ready, and the killed server comes back and catches up.
func TestHAControlPlane(t *testing.T) {
	apiload(t)
	hosts := []string{"s1", "s2", "s3", "a1"}
	ml, dirs, cgroupRoot, on := labNodes(t, hosts...)
	kubeconfigs := map[string]string{}
	for _, h := range hosts {
		kubeconfigs[h] = filepath.Join(t.TempDir(), h+".yaml")
	}
	args := map[string][]string{}
	serverArgs := func(h string, extra ...string) []string {
		return append([]string{"server", "--data-dir", dirs[h], "--write-kubeconfig", kubeconfigs[h], "--node-name", h,
			"--kubelet-arg", "cgroup-root=" + cgroupRoot(h), "--disable", "metrics-server,helm-controller,servicelb"}, extra...)
	}
	servers := map[string]*server{}
	start := func(h string) {
		servers[h] = startKite(t, on(h), "kite server is ready", dirs[h], kubeconfigs[h], args[h]...)
		servers[h].waitReady()
	}
	args["s1"] = serverArgs("s1", "--cluster-init", "--agent-token", "e2e-agent-secret")
	start("s1")
	token := readToken(t, filepath.Join(dirs["s1"], "server", "token"))
	agentToken := readToken(t, filepath.Join(dirs["s1"], "server", "agent-token"))
	url := "https://" + ml.ips["s1"] + ":6443"

	t.Run("a server with other settings is refused, nothing written", func(t *testing.T) {
		dir := filepath.Join(shortTempDir(t), "server")
		code, out := runKiteIn(t, on("s2"), "server", "--server", url, "--token", token, "--data-dir", dir,
			"--write-kubeconfig", dir+"-kc/k.yaml", "--cluster-cidr", "10.52.0.0/16", "--disable", "metrics-server,helm-controller,servicelb")
		assertFailed(t, code, out, "--cluster-cidr is 10.42.0.0/16 on the cluster but 10.52.0.0/16 on this server")
		assertAbsent(t, filepath.Join(dir, "server", "tls"))
		assertAbsent(t, filepath.Join(dir, "server", "db"))
		code, out = runKiteIn(t, on("s2"), "server", "--server", url, "--token", token, "--data-dir", dir,
			"--write-kubeconfig", dir+"-kc/k.yaml")
		assertFailed(t, code, out, "--disable (of the add-ons that change the API) is metrics-server,helm-controller on the cluster but none on this server")
		assertAbsent(t, filepath.Join(dir, "server", "tls"))
	})

	// One join at a time: etcd takes one learner at once.
	for _, h := range []string{"s2", "s3"} {
		args[h] = serverArgs(h, "--server", url, "--token", token)
		start(h)
	}
	// The joined servers have the cluster's agent token: an agent may join
	// any of them.
	if got := readToken(t, filepath.Join(dirs["s3"], "server", "agent-token")); got != agentToken {
		t.Errorf("s3's agent token %q, want the cluster's %q", got, agentToken)
	}
	agent := startKite(t, on("a1"), "node is Ready", dirs["a1"], kubeconfigs["s1"], "agent", "--server", "https://"+ml.ips["s3"]+":6443",
		"--token", agentToken, "--data-dir", dirs["a1"], "--node-name", "a1", "--kubelet-arg", "cgroup-root="+cgroupRoot("a1"))
	agent.waitReady()
	waitNodesReady(t, servers["s1"], hosts...)
	members := etcdMembers(t, ml, "s1", dirs["s1"])
	if len(members) != 3 || slices.Contains(members, "learner") {
		t.Fatalf("etcd members %v, want three voting members", members)
	}
	// kubectl shows which nodes are servers: the roles are the servers'.
	eventually(t, time.Minute, "control-plane and etcd roles on the servers' nodes", func() error {
		for role, want := range map[string]string{"control-plane": "s1 s2 s3", "etcd": "s1 s2 s3"} {
			out, err := servers["s1"].kubectl("get", "nodes", "-l", "node-role.kubernetes.io/"+role, "-o", "jsonpath={.items[*].metadata.name}")
			if err != nil {
				return err
			}
			if got := strings.Join(slices.Sorted(slices.Values(strings.Fields(out))), " "); got != want {
				return fmt.Errorf("nodes with role %s: %q, want %q", role, got, want)
			}
		}
		return nil
	})
	// A snapshot taken on one server is listed in the API, seen from all.
	saved, err := servers["s2"].kite("etcd-snapshot", "save", "--name", "on-s2", "--node-name", "s2")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "s2's snapshot listed", func() error {
		out, err := servers["s3"].kubectl("get", "etcdsnapshotfiles", "-l", "etcd.kite.io/snapshot-node=s2", "-o", "jsonpath={.items[*].spec.nodeName}/{.items[*].spec.snapshotName}")
		if err != nil {
			return err
		}
		if !strings.HasPrefix(out, "s2/on-s2-s2-") {
			return fmt.Errorf("ETCDSnapshotFiles of s2: %q (save said %q)", out, saved)
		}
		return nil
	})
	// A manifest on one server only is applied, and the other servers,
	// which lack the file, leave its objects alone.
	manifest := filepath.Join(dirs["s2"], "server", "manifests", "only-on-s2.yaml")
	if err := os.WriteFile(manifest, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: only-on-s2, namespace: default}\ndata: {k: v}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the manifest of s2 applied", func() error {
		_, err := servers["s1"].kubectl("get", "configmap", "only-on-s2")
		return err
	})
	time.Sleep(12 * time.Second) // two sync rounds of every server's deployer
	if _, err := servers["s1"].kubectl("get", "configmap", "only-on-s2"); err != nil {
		t.Errorf("the object of a manifest on s2 only was deleted by another server: %v", err)
	}

	if out := servers["s2"].mustKubectl(t, "get", "endpointslices", "-l", "kubernetes.io/service-name=kubernetes", "-o", "jsonpath={.items[*].endpoints[*].addresses[*]}"); len(strings.Fields(out)) != 3 {
		t.Errorf("the kubernetes Service's endpoints are %q, want the three servers", out)
	}

	// kill -9 of the etcd leader's server while 16 clients write through
	// another server.
	leader := etcdLeader(t, ml, dirs, "s1", "s2", "s3")
	writer := "s1"
	if leader == writer {
		writer = "s2"
	}
	t.Logf("etcd leader on %s; writing through %s", leader, writer)
	acked := filepath.Join(t.TempDir(), "acked")
	load := ml.command(writer, apiload(t), "-kubeconfig", kubeconfigs[writer], "create", "-clients", "16", "-objects", "3000", "-acked", acked)
	var loadOut strings.Builder
	load.Stdout, load.Stderr = &loadOut, &loadOut
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	loadDone := make(chan struct{})
	go func() { load.Wait(); close(loadDone) }()
	eventually(t, 2*time.Minute, "500 acknowledged creates", func() error {
		if n := countLines(acked); n < 500 {
			return fmt.Errorf("%d so far", n)
		}
		return nil
	})
	servers[leader].stop(syscall.SIGKILL)
	select {
	case <-loadDone:
	case <-time.After(3 * time.Minute):
		load.Process.Kill()
		t.Fatalf("the load did not end 3 minutes after the leader was killed:\n%s", loadOut.String())
	}
	want := countLines(acked)
	t.Logf("load: %d acknowledged creates; %s", want, strings.TrimSpace(loadOut.String()))
	assertAllAcked(t, servers[writer], acked, want)
	servers[writer].mustKubectl(t, "create", "configmap", "after-the-kill")
	var alive []string
	for _, h := range hosts {
		if h != leader {
			alive = append(alive, h)
		}
	}
	waitNodesReady(t, servers[writer], alive...)

	// The killed server comes back (no flag needed: its etcd data says
	// what it is) and catches up.
	start(leader)
	eventually(t, time.Minute, "the restarted server sees the last write", func() error {
		_, err := servers[leader].kubectl("get", "configmap", "after-the-kill")
		return err
	})
	assertAllAcked(t, servers[leader], acked, want)
	waitNodesReady(t, servers[leader], hosts...)

	// Deleting a server's Node removes its etcd member; that server stops
	// (its etcd is out of the cluster; and kube-proxy, in the process,
	// exits it when its Node is deleted, as upstream's does), and at its
	// next start it finds out, keeps its old etcd data aside and joins as
	// a new member.
	gone := "s3"
	other := "s1"
	servers[other].mustKubectl(t, "delete", "node", gone)
	eventually(t, time.Minute, "two etcd members left", func() error {
		if m := etcdMembers(t, ml, other, dirs[other]); len(m) != 2 || slices.Contains(m, "learner") {
			return fmt.Errorf("members %v", m)
		}
		return nil
	})
	select {
	case <-servers[gone].exited:
	case <-time.After(time.Minute):
		t.Fatalf("the removed server %s is still running", gone)
	}
	start(gone)
	if log := servers[gone].stderr.String(); !strings.Contains(log, "its old etcd data is kept aside") {
		t.Errorf("the restarted server does not say it joined again")
	}
	if m := etcdMembers(t, ml, other, dirs[other]); len(m) != 3 || slices.Contains(m, "learner") {
		t.Errorf("etcd members after the rejoin: %v", m)
	}
	waitNodesReady(t, servers[other], hosts...)

	// Quorum lost: two of three servers gone. --cluster-reset on the last
	// one makes it a cluster of one with its data; a lost server started
	// again joins it as a new member.
	servers["s2"].stop(syscall.SIGKILL)
	servers["s3"].stop(syscall.SIGKILL)
	servers["s1"].stop(syscall.SIGKILL)
	code, out := runKiteIn(t, on("s1"), append(slices.Clone(args["s1"]), "--cluster-reset")...)
	if code != 0 || !strings.Contains(out, "etcd is now a cluster of one") {
		t.Fatalf("--cluster-reset: exit %d:\n%s", code, tail(out, 3000))
	}
	start("s1")
	if m := etcdMembers(t, ml, "s1", dirs["s1"]); len(m) != 1 {
		t.Errorf("etcd members after --cluster-reset: %v, want s1's alone", m)
	}
	assertAllAcked(t, servers["s1"], acked, want)
	servers["s1"].mustKubectl(t, "create", "configmap", "after-the-reset")
	start("s2")
	if m := etcdMembers(t, ml, "s1", dirs["s1"]); len(m) != 2 || slices.Contains(m, "learner") {
		t.Errorf("etcd members after s2 joined again: %v", m)
	}
	if _, err := servers["s2"].kubectl("get", "configmap", "after-the-reset"); err != nil {
		t.Errorf("s2 does not have the cluster's data after joining again: %v", err)
	}
}

// etcdMembers lists the etcd members, as host's server sees them: each
// member's name, or "learner" for a learner.
func etcdMembers(t *testing.T, ml *multiLab, host, dataDir string) []string {
	t.Helper()
	tlsDir := filepath.Join(dataDir, "server", "tls")
	out, err := etcdRequest(t, "/run/netns/"+ml.hosts[host], net.JoinHostPort(ml.ips[host], "2379"), tlsDir, etcdClientCert(t, tlsDir), "/v3/cluster/member/list", "{}")
	if err != nil {
		t.Fatalf("etcd member list: %v", err)
	}
	var resp struct {
		Members []struct {
			Name      string `json:"name"`
			IsLearner bool   `json:"isLearner"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("etcd member list %q: %v", out, err)
	}
	var names []string
	for _, m := range resp.Members {
		if m.IsLearner {
			names = append(names, "learner")
		} else {
			names = append(names, m.Name)
		}
	}
	return names
}

// etcdLeader returns the host whose etcd member leads.
func etcdLeader(t *testing.T, ml *multiLab, dirs map[string]string, hosts ...string) string {
	t.Helper()
	var leader string
	eventually(t, time.Minute, "an etcd leader", func() error {
		for _, h := range hosts {
			tlsDir := filepath.Join(dirs[h], "server", "tls")
			out, err := etcdRequest(t, "/run/netns/"+ml.hosts[h], net.JoinHostPort(ml.ips[h], "2379"), tlsDir, etcdClientCert(t, tlsDir), "/v3/maintenance/status", "{}")
			if err != nil {
				return err
			}
			var st struct {
				Header struct {
					MemberID string `json:"member_id"`
				} `json:"header"`
				Leader string `json:"leader"`
			}
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				return fmt.Errorf("etcd status %q: %v", out, err)
			}
			if st.Leader != "" && st.Leader != "0" && st.Leader == st.Header.MemberID {
				leader = h
				return nil
			}
		}
		return fmt.Errorf("no member of %v leads", hosts)
	})
	return leader
}
