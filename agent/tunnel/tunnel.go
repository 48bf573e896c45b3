// Package tunnel is the node's end of the websocket tunnel to its server
// (github.com/rancher/remotedialer): the server's API server reaches this
// node's kubelet through it, so logs, exec and port-forward work when the
// server cannot dial the node (NAT, firewall). The tunnel lets the server
// reach the kubelet's port on loopback and nothing else.
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
	"strconv"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rancher/remotedialer"

	"github.com/kite-project/kite/pkg/joinapi"
)

// Tunnel is the component. It is ready once the first tunnel is up.
type Tunnel struct {
	// Server returns the server to connect to (host:port), asked again at
	// each reconnection: the load balancer's current one.
	Server      func() string
	ServerCA    string // file
	Cert, Key   string // the kubelet's client certificate: the node's identity
	KubeletPort int
	Log         *slog.Logger

	dialer *websocket.Dialer
	up     chan struct{}
}

func (t *Tunnel) Name() string { return "tunnel to the server" }

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

func (t *Tunnel) Run(ctx context.Context) error {
	first := true
	wait := time.Second
	for ctx.Err() == nil {
		url := "wss://" + t.Server() + joinapi.ConnectPath
		started := time.Now()
		err := remotedialer.ConnectToProxy(ctx, url, http.Header{}, t.allowed, t.dialer, func(context.Context, *remotedialer.Session) error {
			if first {
				first = false
				close(t.up)
			}
			t.Log.Info("tunnel to the server is up", "server", url)
			return nil
		})
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > time.Minute {
			wait = time.Second // it was up for a while: reconnect soon
		}
		t.Log.Warn("tunnel to the server is down; reconnecting", "server", url, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
	return nil
}

func (t *Tunnel) Ready(ctx context.Context) error {
	select {
	case <-t.up:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
