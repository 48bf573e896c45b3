package tunnel

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/rancher/remotedialer"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func node(name string, addrs ...corev1.NodeAddress) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Addresses: addrs}}
}

func internal(a string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a}
}

func lister(t *testing.T, nodes ...*corev1.Node) corelisters.NodeLister {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, n := range nodes {
		if err := idx.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	return corelisters.NewNodeLister(idx)
}

func TestNodeOf(t *testing.T) {
	pi2 := node("pi-2", internal("10.0.0.2"), corev1.NodeAddress{Type: corev1.NodeHostName, Address: "pi-2.lan"})
	pi3 := node("pi-3", internal("10.0.0.3"), corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.3"})
	for _, tc := range []struct {
		name  string
		nodes []*corev1.Node
		host  string
		want  string
		err   string // in the error; "" for none
	}{
		{name: "by InternalIP", nodes: []*corev1.Node{pi2, pi3}, host: "10.0.0.3", want: "pi-3"},
		{name: "by ExternalIP", nodes: []*corev1.Node{pi2, pi3}, host: "203.0.113.3", want: "pi-3"},
		{name: "by Hostname", nodes: []*corev1.Node{pi2, pi3}, host: "pi-2.lan", want: "pi-2"},
		{name: "by name", nodes: []*corev1.Node{pi2, pi3}, host: "pi-2", want: "pi-2"},
		{name: "none", nodes: []*corev1.Node{pi2, pi3}, host: "10.0.0.4"},
		{name: "no nodes", host: "10.0.0.2"},
		{name: "a shared InternalIP", nodes: []*corev1.Node{pi2, pi3, node("evil", internal("10.0.0.2"))}, host: "10.0.0.2",
			err: "10.0.0.2 belongs to nodes evil and pi-2"},
		{name: "named after another's address", nodes: []*corev1.Node{pi2, node("10.0.0.2")}, host: "10.0.0.2",
			err: "nodes 10.0.0.2 and pi-2"},
		{name: "the same IP written otherwise", nodes: []*corev1.Node{pi2, node("evil", internal("::ffff:10.0.0.2"))}, host: "10.0.0.2",
			err: "nodes evil and pi-2"},
		{name: "another's Hostname", nodes: []*corev1.Node{pi2, node("evil", corev1.NodeAddress{Type: corev1.NodeHostName, Address: "PI-2.lan"})}, host: "pi-2.lan",
			err: "nodes evil and pi-2"},
		{name: "an InternalDNS address is not dialed, so not matched", nodes: []*corev1.Node{pi2, node("other", corev1.NodeAddress{Type: corev1.NodeInternalDNS, Address: "10.0.0.2"})}, host: "10.0.0.2",
			want: "pi-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := nodeOf(lister(t, tc.nodes...), tc.host)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || got != "" {
					t.Fatalf("nodeOf(%s) = %q, %v; want an error with %q", tc.host, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("nodeOf(%s) = %q, %v; want %q", tc.host, got, err, tc.want)
			}
		})
	}
	if got, err := nodeOf(nil, "10.0.0.2"); got != "" || err != nil {
		t.Fatalf("before Start: %q, %v", got, err)
	}
}

// fakeSessions has a tunnel for some nodes and records what is dialed
// through them.
type fakeSessions struct {
	nodes  map[string]bool
	dialed []string
}

func (f *fakeSessions) HasSession(node string) bool { return f.nodes[node] }

func (f *fakeSessions) Dialer(node string) remotedialer.Dialer {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		f.dialed = append(f.dialed, node+" "+addr)
		c, _ := net.Pipe()
		return c, nil
	}
}

// kubelet listens on loopback and counts the connections it gets: those
// dialed directly.
func kubelet(t *testing.T) (port string, accepted chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted = make(chan struct{}, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
			accepted <- struct{}{}
		}
	}()
	_, port, _ = net.SplitHostPort(l.Addr().String())
	return port, accepted
}

func TestDial(t *testing.T) {
	port, accepted := kubelet(t)
	var logs bytes.Buffer
	sessions := &fakeSessions{nodes: map[string]bool{"pi-2": true, "evil": true}}
	tun := &Tunnel{sessions: sessions, log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx := context.Background()
	dial := func(host string) (net.Conn, error) {
		return tun.Dial(ctx, "tcp", net.JoinHostPort(host, port))
	}

	// Before Start: directly.
	c, err := dial("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	<-accepted

	// One node has the address, and a tunnel: through it, to its loopback.
	tun.nodes = lister(t, node("pi-2", internal("127.0.0.1")), node("pi-3", internal("127.0.0.3")))
	c, err = dial("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if want := "pi-2 127.0.0.1:" + port; len(sessions.dialed) != 1 || sessions.dialed[0] != want {
		t.Fatalf("dialed through the tunnels: %q, want %q", sessions.dialed, want)
	}

	// A node without a tunnel, and an address no node has: directly.
	tun.nodes = lister(t, node("pi-3", internal("127.0.0.1")))
	for range 2 {
		c, err = dial("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		<-accepted
		tun.nodes = lister(t, node("pi-3", internal("127.0.0.3")))
	}

	// Two nodes have it: refused, logged, dialed neither way.
	sessions.dialed = nil
	tun.nodes = lister(t, node("pi-2", internal("127.0.0.1")), node("evil", internal("127.0.0.1")))
	c, err = dial("127.0.0.1")
	if err == nil {
		c.Close()
		t.Fatal("an address of two nodes was dialed")
	}
	if !strings.Contains(err.Error(), "belongs to nodes evil and pi-2") {
		t.Fatalf("error %q does not name the nodes", err)
	}
	if len(sessions.dialed) != 0 {
		t.Fatalf("dialed through a tunnel: %q", sessions.dialed)
	}
	select {
	case <-accepted:
		t.Fatal("dialed directly")
	default:
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "evil and pi-2") {
		t.Fatalf("want one warning naming the nodes, got:\n%s", logs.String())
	}
}
