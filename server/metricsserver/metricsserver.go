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
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/metrics-server/cmd/metrics-server/app/options"

	"github.com/kite-project/kite/pkg/logging"
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
	// authorization), and scrapes kubelets with its client certificate.
	Kubeconfig string
	// KubeletCA verifies kubelets' serving certificates (the kubelet
	// serving CA, not the server CA of the kubeconfig).
	KubeletCA string
	// CertDir keeps its self-signed serving certificate (the API server
	// proxies to it over loopback, without checking it: the APIService
	// says insecureSkipTLSVerify, as upstream's manifest does).
	CertDir string
	// KubeletDial dials kubelets (through the node tunnels).
	KubeletDial utilnet.DialFunc
	// Client (kite's admin client) touches the APIService once
	// metrics-server serves (see closedUntilServing).
	Client kubernetes.Interface
	Log    *slog.Logger

	listener *closedUntilServing
}

func (s *Server) Name() string { return "metrics-server" }

// Prepare binds the loopback port, so the API server can resolve the
// Service to it from its start.
func (s *Server) Prepare(context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("metrics-server: %w", err)
	}
	s.listener = newClosedUntilServing(ln)
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
	ctx = logging.KlogContext(ctx, "metrics-server") // its contextual klog lines name it
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
		"--kubelet-certificate-authority=" + s.KubeletCA,
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
	go s.announce(ctx)
	return srv.RunUntil(ctx.Done())
}

// APIService is the APIService of the metrics API (packaged manifest).
const APIService = "v1beta1.metrics.k8s.io"

// announce waits until metrics-server accepts connections, then, until
// the API server reports the APIService Available (at most a minute),
// touches it every second: each touch has the API server check it at once
// rather than after its back-off. Best effort: a failure only delays
// `kubectl top` until the API server's next check of its own.
func (s *Server) announce(ctx context.Context) {
	if s.Client == nil {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-s.listener.served:
	}
	rest := s.Client.Discovery().RESTClient()
	path := "/apis/apiregistration.k8s.io/v1/apiservices/" + APIService
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range 60 {
		raw, err := rest.Get().AbsPath(path).DoRaw(ctx)
		if err == nil && available(raw) {
			return
		}
		if err == nil {
			patch := fmt.Sprintf(`{"metadata":{"annotations":{"kite.io/metrics-server-started":%q}}}`, time.Now().UTC().Format(time.RFC3339Nano))
			err = rest.Patch(types.MergePatchType).AbsPath(path).Body([]byte(patch)).Do(ctx).Error()
		}
		if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
			s.Log.Debug("could not touch the metrics APIService", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// available reports whether an APIService's JSON says Available=True.
func available(raw []byte) bool {
	var svc struct {
		Status struct {
			Conditions []struct{ Type, Status string }
		}
	}
	if json.Unmarshal(raw, &svc) != nil {
		return false
	}
	for _, c := range svc.Status.Conditions {
		if c.Type == "Available" {
			return c.Status == "True"
		}
	}
	return false
}
