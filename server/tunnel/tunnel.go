// Package tunnel is the server's end of the websocket tunnels that nodes
// open to it (github.com/rancher/remotedialer). The API server's calls to a
// kubelet (logs, exec, attach, port-forward, node proxy) go through the
// node's tunnel when it has one, so they work for a node the server cannot
// dial (NAT, firewall); otherwise they are dialed directly.
//
// A node reports its own addresses, and nothing stops it from reporting
// another node's address, or from being named after one: a kubelet address
// that more than one node claims is refused, so that a node never receives
// the sessions (exec, attach, logs, port-forward) meant for another.
package tunnel

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rancher/remotedialer"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/kite-project/kite/server/pki"
)

// Tunnel serves the tunnels and dials kubelets.
type Tunnel struct {
	server   *remotedialer.Server
	sessions sessions // server; a fake in tests
	log      *slog.Logger

	mu    sync.RWMutex
	nodes corelisters.NodeLister // nil until Start
}

// New returns a Tunnel that lets in nodes presenting a kubelet client
// certificate of p's client CA: the session is named after the node. log
// gets the dials refused (nil: slog's default).
func New(p pki.PKI, log *slog.Logger) *Tunnel {
	if log == nil {
		log = slog.Default()
	}
	t := &Tunnel{log: log}
	t.server = remotedialer.New(func(r *http.Request) (string, bool, error) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return "", false, nil
		}
		user, err := p.VerifyClient(r.TLS.PeerCertificates[0], r.TLS.PeerCertificates[1:], time.Now())
		if err != nil {
			return "", false, nil
		}
		node, ok := strings.CutPrefix(user, "system:node:")
		return node, ok && node != "", nil
	}, remotedialer.DefaultErrorWriter)
	t.sessions = t.server
	return t
}

// sessions is what Dial needs of remotedialer.Server.
type sessions interface {
	HasSession(node string) bool
	Dialer(node string) remotedialer.Dialer
}

func (t *Tunnel) ServeHTTP(w http.ResponseWriter, r *http.Request) { t.server.ServeHTTP(w, r) }

// Watch has the tunnel know the Nodes (which node an address belongs to)
// from the server's shared informers; their owner starts them.
func (t *Tunnel) Watch(factory informers.SharedInformerFactory) {
	lister := factory.Core().V1().Nodes().Lister()
	t.mu.Lock()
	t.nodes = lister
	t.mu.Unlock()
}

// Dial connects to addr (a kubelet, host:port as the API server chose it
// from the Node's addresses) through the tunnel of the node that has that
// address, or directly when that node has no tunnel or no node has it. An
// address that more than one node has is not dialed at all.
func (t *Tunnel) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		node, err := nodeOf(t.lister(), host)
		if err != nil {
			t.log.Warn("kubelet connection refused", "address", addr, "err", err)
			return nil, err
		}
		if node != "" && t.sessions.HasSession(node) {
			// The node's end lets the server reach only its kubelet, on
			// loopback; TLS inside still checks the kubelet's certificate
			// against the address the API server chose.
			return t.sessions.Dialer(node)(ctx, "tcp", net.JoinHostPort("127.0.0.1", port))
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (t *Tunnel) lister() corelisters.NodeLister {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.nodes
}

// nodeOf returns the node whose name or InternalIP, ExternalIP or Hostname
// address is host ("" for none: also before Start, or when the nodes
// cannot be listed), or an error naming the nodes when there are several.
// IP addresses compare as IPs (::ffff:10.0.0.2 is 10.0.0.2), names without
// case.
func nodeOf(nodes corelisters.NodeLister, host string) (string, error) {
	if nodes == nil {
		return "", nil
	}
	list, err := nodes.List(labels.Everything())
	if err != nil {
		return "", nil
	}
	var found []string
	for _, n := range list {
		if hasAddress(n, host) {
			found = append(found, n.Name)
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	sort.Strings(found)
	return "", fmt.Errorf("the kubelet address %s belongs to nodes %s: not dialed, as one of them could take the other's sessions (fix the nodes' names or addresses)", host, strings.Join(found, " and "))
}

func hasAddress(n *corev1.Node, host string) bool {
	if sameHost(n.Name, host) {
		return true
	}
	for _, a := range n.Status.Addresses {
		if (a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP || a.Type == corev1.NodeHostName) && sameHost(a.Address, host) {
			return true
		}
	}
	return false
}

func sameHost(a, b string) bool {
	if ipA, ipB := net.ParseIP(a), net.ParseIP(b); ipA != nil || ipB != nil {
		return ipA.Equal(ipB)
	}
	return strings.EqualFold(a, b)
}
