// Package tunnel is the server's end of the websocket tunnels that nodes
// open to it (github.com/rancher/remotedialer). The API server's calls to a
// kubelet (logs, exec, attach, port-forward, node proxy) go through the
// node's tunnel when it has one, so they work for a node the server cannot
// dial (NAT, firewall); otherwise they are dialed directly.
package tunnel

import (
	"context"
	"net"
	"net/http"
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
	server *remotedialer.Server

	mu    sync.RWMutex
	nodes corelisters.NodeLister // nil until Start
}

// New returns a Tunnel that lets in nodes presenting a kubelet client
// certificate of p's client CA: the session is named after the node.
func New(p pki.PKI) *Tunnel {
	t := &Tunnel{}
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
	return t
}

func (t *Tunnel) ServeHTTP(w http.ResponseWriter, r *http.Request) { t.server.ServeHTTP(w, r) }

// Start watches the Nodes (through the server's shared informers), to know
// which node an address belongs to.
func (t *Tunnel) Start(ctx context.Context, factory informers.SharedInformerFactory) {
	lister := factory.Core().V1().Nodes().Lister()
	factory.Start(ctx.Done())
	t.mu.Lock()
	t.nodes = lister
	t.mu.Unlock()
}

// Dial connects to addr (a kubelet, host:port as the API server chose it
// from the Node's addresses) through the tunnel of the node that has that
// address, or directly when that node has no tunnel.
func (t *Tunnel) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		if node := t.nodeOf(host); node != "" && t.server.HasSession(node) {
			// The node's end lets the server reach only its kubelet, on
			// loopback; TLS inside still checks the kubelet's certificate
			// against the address the API server chose.
			return t.server.Dialer(node)(ctx, "tcp", net.JoinHostPort("127.0.0.1", port))
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (t *Tunnel) nodeOf(host string) string {
	t.mu.RLock()
	nodes := t.nodes
	t.mu.RUnlock()
	if nodes == nil {
		return ""
	}
	list, err := nodes.List(labels.Everything())
	if err != nil {
		return ""
	}
	for _, n := range list {
		if n.Name == host {
			return n.Name
		}
		for _, a := range n.Status.Addresses {
			if (a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP || a.Type == corev1.NodeHostName) && a.Address == host {
				return n.Name
			}
		}
	}
	return ""
}
