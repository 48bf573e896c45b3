// Package metricsserver runs the upstream metrics-server (the metrics.k8s.io
// API behind `kubectl top` and the HorizontalPodAutoscaler) in the kite
// server process instead of a pod: it shares the process's libraries, needs
// no image, and reaches every kubelet the way the API server does, through
// the node tunnels, so nodes behind NAT are measured too.
//
// It serves on an ephemeral loopback port only. The APIService
// v1beta1.metrics.k8s.io (packaged manifest metrics-server.yaml) names the
// Service kube-system/metrics-server; kite's API server resolves that
// Service to this listener (see Endpoint) rather than to a cluster IP.
package metricsserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"

	"github.com/spf13/pflag"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"sigs.k8s.io/metrics-server/cmd/metrics-server/app/options"
)

// Service is the Service the APIService names.
const (
	ServiceNamespace = "kube-system"
	ServiceName      = "metrics-server"
)

// Server is the component.
type Server struct {
	// Kubeconfig is kite's admin kubeconfig: metrics-server reads nodes and
	// pods with it, checks its callers (delegated authentication and
	// authorization), and scrapes kubelets with its client certificate,
	// trusting the server CA that signs kubelets' serving certificates.
	Kubeconfig string
	// CertDir keeps its self-signed serving certificate (the API server
	// proxies to it over loopback, without checking it: the APIService
	// says insecureSkipTLSVerify, as upstream's manifest does).
	CertDir string
	// KubeletDial dials kubelets (through the node tunnels).
	KubeletDial utilnet.DialFunc
	Log         *slog.Logger

	listener net.Listener
}

func (s *Server) Name() string { return "metrics-server" }

// Prepare binds the loopback port, so the API server can resolve the
// Service to it from its start.
func (s *Server) Prepare(context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("metrics-server: %w", err)
	}
	s.listener = ln
	return nil
}

// Endpoint returns where the Service kube-system/metrics-server is served.
func (s *Server) Endpoint() *url.URL {
	return &url.URL{Scheme: "https", Host: s.listener.Addr().String()}
}

// Ready does not wait: nothing in kite's start needs metrics.
func (s *Server) Ready(context.Context) error { return nil }

// Run configures metrics-server as its command line would (its delegated
// authentication reads the API server's request-header CA from the
// cluster, so this happens only now, with the API server up) and serves
// until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	defer s.listener.Close()
	o := options.NewOptions()
	fs := pflag.NewFlagSet("metrics-server", pflag.ContinueOnError)
	for _, set := range o.Flags().FlagSets {
		fs.AddFlagSet(set)
	}
	err := fs.Parse([]string{
		"--kubeconfig=" + s.Kubeconfig,
		"--authentication-kubeconfig=" + s.Kubeconfig,
		"--authorization-kubeconfig=" + s.Kubeconfig,
		"--cert-dir=" + s.CertDir,
		"--kubelet-use-node-status-port",
		"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
		// As upstream's manifest: a fresh pod shows in `kubectl top`
		// within half a minute (two scrapes give its CPU rate).
		"--metric-resolution=15s",
	})
	if err != nil {
		return fmt.Errorf("metrics-server flags: %w", err)
	}
	o.SecureServing.Listener = s.listener
	if errs := o.KubeletClient.Validate(); len(errs) > 0 {
		return fmt.Errorf("metrics-server: %v", errs[0])
	}
	cfg, err := o.ServerConfig()
	if err != nil {
		return fmt.Errorf("metrics-server: %w", err)
	}
	cfg.Kubelet.Client.Dial = s.KubeletDial
	srv, err := cfg.Complete()
	if err != nil {
		return fmt.Errorf("metrics-server: %w", err)
	}
	s.Log.Info("metrics-server serving the metrics.k8s.io API", "address", s.listener.Addr().String())
	return srv.RunUntil(ctx.Done())
}
