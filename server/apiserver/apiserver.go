// Package apiserver runs the upstream kube-apiserver in the kite process.
package apiserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/union"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/apiserver/pkg/server/egressselector"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	aggregatorapiserver "k8s.io/kube-aggregator/pkg/apiserver"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"

	"github.com/kite-project/kite/pkg/health"
	"github.com/kite-project/kite/pkg/logging"
	"github.com/kite-project/kite/server/apiserver/certcache"
	"github.com/kite-project/kite/server/metricsopts"
)

// APIServer is the kube-apiserver component.
type APIServer struct {
	Args     []string     // flags, as on the kube-apiserver command line
	Listener net.Listener // the secure port, bound by the caller
	// ReadyURL is polled with ReadyClient until it answers 200.
	ReadyURL    string
	ReadyClient *http.Client
	// Wrap, if set, puts kite's own handlers (the join endpoints) in front
	// of the API server's, on the same listener, before authentication.
	Wrap func(http.Handler) http.Handler
	// KubeletDial, if set, dials kubelets (logs, exec, port-forward, node
	// proxy): kite sends these through the node's tunnel.
	KubeletDial utilnet.DialFunc
	// ResolveService, if set, is asked first where the aggregator sends an
	// APIService's requests (nil: the Service's cluster IP, as upstream):
	// kite's in-process metrics-server answers on loopback.
	ResolveService func(namespace, name string) *url.URL

	completed options.CompletedOptions
}

func (a *APIServer) Name() string { return "kube-apiserver" }

// Prepare parses and checks the flags, so a bad --kube-apiserver-arg fails
// before anything runs.
func (a *APIServer) Prepare(ctx context.Context) error {
	redirectEtcdClientLog(slog.Default())
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(a.Args); err != nil {
		return fmt.Errorf("%w (check --kube-apiserver-arg)", err)
	}
	s.Metrics = metricsopts.OrNil(s.Metrics)
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	// kube-apiserver, like kubectl, would print every deprecation warning of
	// its own loopback clients.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	s.SecureServing.Listener = a.Listener
	completed, err := s.Complete(ctx)
	if err != nil {
		return err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return utilerrors.NewAggregate(errs)
	}
	a.completed = completed
	return nil
}

// Run is upstream's app.Run with kite's changes to the configuration: the
// handler in front, the kubelet dialer, and the Services kite serves itself.
func (a *APIServer) Run(ctx context.Context) error {
	ctx = logging.KlogContext(ctx, "apiserver") // its contextual klog lines name it
	opts := a.completed
	if opts.InformerName == nil {
		name, err := cache.NewInformerName("kube-apiserver")
		if err != nil {
			return err
		}
		opts.InformerName = name
	}
	config, err := app.NewConfig(opts)
	if err != nil {
		return err
	}
	if a.Wrap != nil {
		// The aggregator is the outermost server of the chain: its handler
		// is the one the listener serves.
		build := config.Aggregator.GenericConfig.BuildHandlerChainFunc
		config.Aggregator.GenericConfig.BuildHandlerChainFunc = func(h http.Handler, c *genericapiserver.Config) http.Handler {
			return a.Wrap(build(h, c))
		}
	}
	if a.KubeletDial != nil {
		config.KubeAPIs.Extra.KubeletClientConfig.Lookup = func(nc egressselector.NetworkContext) (utilnet.DialFunc, error) {
			if nc.EgressSelectionName == egressselector.Cluster {
				return a.KubeletDial, nil
			}
			return nil, nil
		}
		// Node proxy (/api/v1/nodes/NAME/proxy) uses the proxy transport.
		if t := config.KubeAPIs.ControlPlane.ProxyTransport; t != nil {
			t.DialContext = a.KubeletDial
		}
	}
	if cache, err := a.clientCertCache(ctx); err != nil {
		return err
	} else if cache != nil {
		// The aggregator's handler chain is the one that authenticates
		// (the servers behind it are reached past their filters).
		auth := &config.Aggregator.GenericConfig.Authentication
		auth.Authenticator = union.New(group.NewAuthenticatedGroupAdder(cache), auth.Authenticator)
	}
	if a.ResolveService != nil {
		config.Aggregator.ExtraConfig.ServiceResolver = serviceResolver{own: a.ResolveService, next: config.Aggregator.ExtraConfig.ServiceResolver}
	}
	completed, err := config.Complete()
	if err != nil {
		return err
	}
	server, err := app.CreateServerChain(completed)
	if err != nil {
		return err
	}
	prepared, err := server.PrepareRun()
	if err != nil {
		return err
	}
	return prepared.Run(ctx)
}

// clientCertCache is a certcache.Cache over upstream's x509 authenticator for
// the --client-ca-file, nil when there is none, or when it is also the
// request-header CA (see certcache).
func (a *APIServer) clientCertCache(ctx context.Context) (*certcache.Cache, error) {
	authn := a.completed.Authentication
	if authn == nil || authn.ClientCert == nil || authn.ClientCert.ClientCA == "" {
		return nil, nil
	}
	if authn.RequestHeader != nil && authn.RequestHeader.ClientCAFile == authn.ClientCert.ClientCA {
		return nil, nil
	}
	ca, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca-cache", authn.ClientCert.ClientCA)
	if err != nil {
		return nil, err
	}
	cache := certcache.New(x509request.NewDynamic(ca.VerifyOptions, x509request.CommonNameUserConversion))
	ca.AddListener(cache)
	go ca.Run(ctx, 1)
	return cache, nil
}

// StopTimeout is short: alone, the API server drains in about a second,
// but the in-process kubelet and kube-proxy keep sending it requests after
// their stop (they only end with the process), so its drain may never end.
func (a *APIServer) StopTimeout() time.Duration { return 5 * time.Second }

func (a *APIServer) Ready(ctx context.Context) error {
	return health.WaitOK(ctx, a.ReadyClient, a.ReadyURL)
}

// serviceResolver asks kite first, then upstream's resolver.
type serviceResolver struct {
	own  func(namespace, name string) *url.URL
	next aggregatorapiserver.ServiceResolver
}

func (r serviceResolver) ResolveEndpoint(namespace, name string, port int32) (*url.URL, error) {
	if u := r.own(namespace, name); u != nil {
		return u, nil
	}
	return r.next.ResolveEndpoint(namespace, name, port)
}
