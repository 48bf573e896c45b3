package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// hostileNodes are Node objects as a compromised node (or anyone allowed
// to write a Node's status) could make them: a node named like a Service,
// one named like an IP, one whose InternalIP carries a second name. The
// canary is an honest node: once its line is in NodeHosts and CoreDNS
// answers for it, the hostile ones have been seen too.
var hostileNodes = []struct{ name, address string }{
	{"kubernetes.default.svc.cluster.local", "198.18.9.9"},
	{"198.18.9.8", "198.18.9.8"},
	{"evil", "198.18.9.9 kubernetes.default.svc.cluster.local"},
	{"hostile-canary", "198.18.9.7"},
}

// checkHostileNodeHostsIgnored: Nodes with hostile names and addresses
// (issue 20) get no line in NodeHosts, and a pod still resolves the
// kubernetes Service's name to its cluster IP. TestCoreDNS calls it once
// CoreDNS and its pod "dns" run.
func checkHostileNodeHostsIgnored(t *testing.T, srv *server) {
	t.Helper()
	t.Cleanup(func() {
		for _, n := range hostileNodes {
			srv.kubectl("delete", "node", n.name, "--ignore-not-found", "--wait=false")
		}
	})
	var manifest strings.Builder
	for _, n := range hostileNodes {
		fmt.Fprintf(&manifest, "---\napiVersion: v1\nkind: Node\nmetadata: {name: %q}\n", n.name)
	}
	apply(t, srv, manifest.String())
	// The API server does not check a Node's addresses; the canary's last,
	// so the others are in NodeHosts' informer before it.
	for _, n := range hostileNodes {
		patch, err := json.Marshal(map[string]any{"status": map[string]any{
			"addresses": []map[string]string{{"type": "InternalIP", "address": n.address}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		srv.mustKubectl(t, "patch", "node", n.name, "--subresource=status", "--type=merge", "-p", string(patch))
	}

	var hosts string
	eventually(t, time.Minute, "NodeHosts rewritten with the canary", func() error {
		out, err := srv.kubectl("-n", "kube-system", "get", "configmap", "coredns", "-o", "jsonpath={.data.NodeHosts}")
		if err == nil && !strings.Contains(out, "198.18.9.7 hostile-canary\n") {
			err = fmt.Errorf("NodeHosts:\n%s", out)
		}
		hosts = out
		return err
	})
	for _, bad := range []string{"198.18.9.9", "198.18.9.8", "kubernetes.default", "evil"} {
		if strings.Contains(hosts, bad) {
			t.Errorf("NodeHosts has %q:\n%s", bad, hosts)
		}
	}

	// CoreDNS has read it (the kubelet refreshes the volume within about a
	// minute, the hosts plugin rereads it every 15 s) ...
	eventually(t, 3*time.Minute, "the canary resolved", func() error {
		out, err := srv.kubectl("exec", "dns", "--", "nslookup", "hostile-canary.")
		if err == nil && !strings.Contains(out, "Address: 198.18.9.7") {
			err = fmt.Errorf("nslookup hostile-canary.:\n%s", out)
		}
		return err
	})
	// ... and the Service's name still has the Service's address only.
	for _, name := range []string{"kubernetes.default.svc.cluster.local", "kubernetes.default.svc.cluster.local."} {
		out, err := srv.kubectl("exec", "dns", "--", "nslookup", name)
		if err != nil {
			t.Fatalf("nslookup %s: %v\n%s", name, err, out)
		}
		if got := nslookupAnswers(out); len(got) != 1 || got[0] != "10.43.0.1" {
			t.Fatalf("nslookup %s: answers %q, want 10.43.0.1 only:\n%s", name, got, out)
		}
	}
	// The name smuggled in evil's address line answers nothing either.
	if out, err := srv.kubectl("exec", "dns", "--", "nslookup", "evil."); err == nil && len(nslookupAnswers(out)) > 0 {
		t.Fatalf("nslookup evil.: a hostile address answered:\n%s", out)
	}
}

// nslookupAnswers returns the addresses of busybox nslookup's answers:
// those after the first "Name:" line (the ones before are the server's).
func nslookupAnswers(out string) []string {
	var got []string
	answers := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Name:") {
			answers = true
		}
		if addr, ok := strings.CutPrefix(line, "Address:"); ok && answers {
			got = append(got, strings.TrimSpace(addr))
		}
	}
	return got
}
