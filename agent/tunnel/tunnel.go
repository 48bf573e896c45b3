// Package tunnel is the node's end of the websocket tunnels to its servers
// (github.com/rancher/remotedialer): each server's API server reaches this
// node's kubelet through the node's tunnel to it, so logs, exec and
// port-forward work through any server when the servers cannot dial the
// node (NAT, firewall). A tunnel lets the server reach the kubelet's port
// on loopback and nothing else.
package tunnel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rancher/remotedialer"

	"github.com/kite-project/kite/pkg/joinapi"
)

// Tunnel is the component: one tunnel to each server. It is ready once
// the first tunnel is up.
type Tunnel struct {
	// Servers returns the servers (host:port) to keep a tunnel to, asked
	// again every few seconds: the load balancer's list. An address that
	// reaches a server another one reaches too only gives that server two
	// sessions for the node.
	Servers     func() []string
	ServerCA    string // file
	Cert, Key   string // the kubelet's client certificate: the node's identity
	KubeletPort int
	Log         *slog.Logger

	dialer *websocket.Dialer
	up     chan struct{}
	upOnce sync.Once
}

func (t *Tunnel) Name() string { return "tunnels to the servers" }

func (t *Tunnel) Prepare(context.Context) error {
	ca, err := os.ReadFile(t.ServerCA)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		return fmt.Errorf("%s holds no PEM certificate", t.ServerCA)
	}
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return err
	}
	t.dialer = &websocket.Dialer{
		TLSClientConfig:  &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		HandshakeTimeout: remotedialer.HandshakeTimeOut,
	}
	t.up = make(chan struct{})
	return nil
}

// allowed lets the server dial the kubelet on loopback, nothing else.
func (t *Tunnel) allowed(proto, addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	return err == nil && proto == "tcp" && (host == "127.0.0.1" || host == "::1") && port == strconv.Itoa(t.KubeletPort)
}

// Run keeps a tunnel to each of Servers, starting and ending them as the
// list changes.
func (t *Tunnel) Run(ctx context.Context) error {
	running := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		want := t.Servers()
		for _, server := range want {
			if running[server] == nil {
				one, cancel := context.WithCancel(ctx)
				running[server] = cancel
				wg.Go(func() { t.keep(one, server) })
			}
		}
		for server, cancel := range running {
			if !slices.Contains(want, server) {
				cancel()
				delete(running, server)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
	}
}

// keep keeps a tunnel to server up until ctx ends.
func (t *Tunnel) keep(ctx context.Context, server string) {
	url := "wss://" + server + joinapi.ConnectPath
	wait := time.Second
	for ctx.Err() == nil {
		started := time.Now()
		err := remotedialer.ConnectToProxy(ctx, url, http.Header{}, t.allowed, t.dialer, func(context.Context, *remotedialer.Session) error {
			t.upOnce.Do(func() { close(t.up) })
			t.Log.Info("tunnel to the server is up", "server", url)
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			wait = time.Second // it was up for a while: reconnect soon
		}
		t.Log.Warn("tunnel to the server is down; reconnecting", "server", url, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (t *Tunnel) Ready(ctx context.Context) error {
	select {
	case <-t.up:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
