package nodehosts

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, addrs ...corev1.NodeAddress) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Addresses: addrs}}
}

func internal(a string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a}
}

func TestHosts(t *testing.T) {
	got, skipped := Hosts([]*corev1.Node{
		node("pi-2",
			corev1.NodeAddress{Type: corev1.NodeHostName, Address: "pi-2"},
			corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.9"},
			internal("10.0.0.2"),
			internal("fd00::2")),
		node("edge", corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.7"}),
		node("pi-07.lan", internal("192.168.1.7")),
		node("new"), // no address yet: no line
	}, "cluster.local")
	want := "203.0.113.7 edge\n192.168.1.7 pi-07.lan\n10.0.0.2 pi-2\nfd00::2 pi-2\n"
	if got != want {
		t.Fatalf("Hosts:\n%s\nwant:\n%s", got, want)
	}
	if len(skipped) != 0 {
		t.Fatalf("skipped %v", skipped)
	}
}

// A node reports its own name and addresses: nothing it reports may add a
// name to a line, shadow a Service name, or pose as an address.
func TestHostsHostile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		node   *corev1.Node
		domain string
		want   string // the lines written
		skip   []Skip
	}{
		{name: "name with a space", node: node("evil kubernetes", internal("10.0.0.9")),
			skip: []Skip{{Node: "evil kubernetes"}}},
		{name: "name with a newline", node: node("evil\n10.0.0.9 kubernetes", internal("10.0.0.9")),
			skip: []Skip{{Node: "evil\n10.0.0.9 kubernetes"}}},
		{name: "upper case", node: node("Pi-2", internal("10.0.0.9")),
			skip: []Skip{{Node: "Pi-2"}}},
		{name: "too long", node: node(strings.Repeat("a.", 130)+"lan", internal("10.0.0.9")),
			skip: []Skip{{Node: strings.Repeat("a.", 130) + "lan"}}},
		{name: "an IPv4 address as a name", node: node("10.0.0.2", internal("10.0.0.9")),
			skip: []Skip{{Node: "10.0.0.2"}}},
		{name: "a Service name", node: node("kubernetes.default.svc.cluster.local", internal("10.0.0.9")),
			skip: []Skip{{Node: "kubernetes.default.svc.cluster.local"}}},
		{name: "the cluster domain itself", node: node("cluster.local", internal("10.0.0.9")),
			skip: []Skip{{Node: "cluster.local"}}},
		{name: "under the cluster domain", node: node("x.cluster.local", internal("10.0.0.9")),
			skip: []Skip{{Node: "x.cluster.local"}}},
		{name: "another cluster domain", node: node("web.svc.k8s.example", internal("10.0.0.9")), domain: "k8s.example.",
			skip: []Skip{{Node: "web.svc.k8s.example"}}},
		{name: "cluster.local is fine in another cluster domain", node: node("x.cluster.local", internal("10.0.0.9")), domain: "k8s.example",
			want: "10.0.0.9 x.cluster.local\n"},
		{name: "a reverse name", node: node("9.0.0.10.in-addr.arpa", internal("10.0.0.9")),
			skip: []Skip{{Node: "9.0.0.10.in-addr.arpa"}}},
		{name: "an address with a second name", node: node("evil", internal("10.0.0.9 db.prod.svc.cluster.local")),
			skip: []Skip{{Node: "evil", Address: "10.0.0.9 db.prod.svc.cluster.local"}}},
		{name: "an address with a newline", node: node("evil", internal("10.0.0.9\n10.0.0.10 kubernetes")),
			skip: []Skip{{Node: "evil", Address: "10.0.0.9\n10.0.0.10 kubernetes"}}},
		{name: "an address that is a name", node: node("evil", internal("pi-2.lan")),
			skip: []Skip{{Node: "evil", Address: "pi-2.lan"}}},
		{name: "an address with a zone", node: node("evil", internal("fe80::1%eth0")),
			skip: []Skip{{Node: "evil", Address: "fe80::1%eth0"}}},
		{name: "bad and good InternalIPs", node: node("pi-3", internal("10.0.0.3"), internal("10.0.0.9 other")),
			want: "10.0.0.3 pi-3\n", skip: []Skip{{Node: "pi-3", Address: "10.0.0.9 other"}}},
		{name: "no valid InternalIP: the ExternalIP", node: node("pi-4", internal("x"), corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.4"}),
			want: "203.0.113.4 pi-4\n", skip: []Skip{{Node: "pi-4", Address: "x"}}},
		{name: "canonical form, once", node: node("pi-5", internal("fd00:0::0005"), internal("fd00::5"), internal("::ffff:10.0.0.5")),
			want: "fd00::5 pi-5\n10.0.0.5 pi-5\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			domain := tc.domain
			if domain == "" {
				domain = "cluster.local"
			}
			got, skipped := Hosts([]*corev1.Node{tc.node, node("pi-07.lan", internal("192.168.1.7"))}, domain)
			want := tc.want + "192.168.1.7 pi-07.lan\n"
			if tc.node.Name > "pi-07.lan" {
				want = "192.168.1.7 pi-07.lan\n" + tc.want
			}
			if got != want {
				t.Errorf("Hosts:\n%s\nwant:\n%s", got, want)
			}
			for i := range skipped {
				if skipped[i].Reason == "" {
					t.Errorf("skipped %q without a reason", skipped[i].Node)
				}
				skipped[i].Reason = ""
			}
			if !reflect.DeepEqual(skipped, tc.skip) {
				t.Errorf("skipped %q, want %q", skipped, tc.skip)
			}
		})
	}
}

func TestHostsDefaultDomain(t *testing.T) {
	got, skipped := Hosts([]*corev1.Node{node("kubernetes.default.svc.cluster.local", internal("10.0.0.9"))}, "")
	if got != "" || len(skipped) != 1 {
		t.Fatalf("Hosts with no cluster domain: %q, skipped %v", got, skipped)
	}
}

// The controller warns of a skipped node once, not at every pass, and
// again only after it was fixed and broke anew.
func TestLogSkippedOnce(t *testing.T) {
	var buf bytes.Buffer
	c := &Controller{Log: slog.New(slog.NewTextHandler(&buf, nil))}
	bad := []*corev1.Node{node("10.0.0.2", internal("10.0.0.2")), node("evil", internal("10.0.0.9 other"))}
	pass := func(nodes []*corev1.Node) int {
		buf.Reset()
		_, skipped := Hosts(nodes, "cluster.local")
		c.logSkipped(skipped)
		return strings.Count(buf.String(), "level=WARN")
	}
	if n := pass(bad); n != 2 {
		t.Fatalf("first pass: %d warnings, want 2:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), `node=10.0.0.2`) || !strings.Contains(buf.String(), `address="10.0.0.9 other"`) {
		t.Fatalf("warnings without node or address:\n%s", buf.String())
	}
	if n := pass(bad); n != 0 {
		t.Fatalf("second pass: %d warnings, want none:\n%s", n, buf.String())
	}
	if n := pass(bad[:1]); n != 0 {
		t.Fatalf("evil fixed: %d warnings, want none:\n%s", n, buf.String())
	}
	if n := pass(bad); n != 1 {
		t.Fatalf("evil broken again: %d warnings, want 1:\n%s", n, buf.String())
	}
}
