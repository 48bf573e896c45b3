// Package loadbalancer is the node's client-side load balancer: a TCP proxy
// on 127.0.0.1:6444 that the node's kubelet, kube-proxy and flannel use to
// reach the API servers. It knows every server (from --server, then the
// `kubernetes` Service's endpoints) and moves to the next one when a
// connection fails. TLS passes through untouched.
package loadbalancer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"
)

// DefaultPort is where agents reach the API servers locally.
const DefaultPort = 6444

// LoadBalancer is the component.
type LoadBalancer struct {
	Addr string // 127.0.0.1:6444
	Log  *slog.Logger

	mu      sync.Mutex
	servers []string // host:port, the current one first
	ln      net.Listener
}

// New returns a load balancer over servers (host:port), the first preferred.
func New(addr string, servers []string, log *slog.Logger) *LoadBalancer {
	var unique []string
	for _, s := range servers {
		if !slices.Contains(unique, s) {
			unique = append(unique, s)
		}
	}
	return &LoadBalancer{Addr: addr, servers: unique, Log: log}
}

func (lb *LoadBalancer) Name() string { return "API server load balancer" }

// Prepare binds the port, so a busy port fails the start cleanly.
func (lb *LoadBalancer) Prepare(context.Context) error {
	ln, err := net.Listen("tcp", lb.Addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s is already in use by another program (another kite agent?); stop it, or pass --lb-server-port with a free port", lb.Addr)
	}
	if err != nil {
		return err
	}
	lb.ln = ln
	return nil
}

func (lb *LoadBalancer) Ready(context.Context) error { return nil }

func (lb *LoadBalancer) Run(ctx context.Context) error {
	go func() { <-ctx.Done(); lb.ln.Close() }()
	for {
		conn, err := lb.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go lb.serve(ctx, conn)
	}
}

// Servers returns the known servers, the current one first.
func (lb *LoadBalancer) Servers() []string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return slices.Clone(lb.servers)
}

// SetServers replaces the list of servers, keeping the current one first
// if it is still in it. An empty list is ignored.
func (lb *LoadBalancer) SetServers(servers []string) {
	if len(servers) == 0 {
		return
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	next := slices.Clone(servers)
	slices.Sort(next)
	next = slices.Compact(next)
	if len(lb.servers) > 0 {
		if i := slices.Index(next, lb.servers[0]); i > 0 {
			next[0], next[i] = next[i], next[0]
		}
	}
	if !slices.Equal(next, lb.servers) {
		lb.Log.Info("API servers for this node", "servers", next)
		lb.servers = next
	}
}

// failed moves server to the back of the list, if it is still the current.
func (lb *LoadBalancer) failed(server string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if len(lb.servers) > 1 && lb.servers[0] == server {
		lb.servers = append(lb.servers[1:], server)
		lb.Log.Warn("API server unreachable; using the next one", "failed", server, "now", lb.servers[0])
	}
}

func (lb *LoadBalancer) serve(ctx context.Context, client net.Conn) {
	defer client.Close()
	var upstream net.Conn
	for _, server := range lb.Servers() {
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err := d.DialContext(ctx, "tcp", server)
		if err == nil {
			upstream = c
			break
		}
		lb.failed(server)
	}
	if upstream == nil {
		return // the client sees a closed connection and retries
	}
	defer upstream.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
	select {
	case <-done:
		<-done
	case <-ctx.Done():
	}
}
