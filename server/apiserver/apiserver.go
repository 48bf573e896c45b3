// Package apiserver runs the upstream kube-apiserver in the kite process.
package apiserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"

	"github.com/kite-project/kite/server/health"
)

// APIServer is the kube-apiserver component.
type APIServer struct {
	Args     []string     // flags, as on the kube-apiserver command line
	Listener net.Listener // the secure port, bound by the caller
	// ReadyURL is polled with ReadyClient until it answers 200.
	ReadyURL    string
	ReadyClient *http.Client

	completed options.CompletedOptions
}

func (a *APIServer) Name() string { return "kube-apiserver" }

// Prepare parses and checks the flags, so a bad --kube-apiserver-arg fails
// before anything runs.
func (a *APIServer) Prepare(ctx context.Context) error {
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(a.Args); err != nil {
		return fmt.Errorf("%w (check --kube-apiserver-arg)", err)
	}
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

func (a *APIServer) Run(ctx context.Context) error {
	return app.Run(ctx, a.completed)
}

// StopTimeout is short: alone, the API server drains in about a second,
// but the in-process kubelet and kube-proxy keep sending it requests after
// their stop (they only end with the process), so its drain may never end.
func (a *APIServer) StopTimeout() time.Duration { return 5 * time.Second }

func (a *APIServer) Ready(ctx context.Context) error {
	return health.WaitOK(ctx, a.ReadyClient, a.ReadyURL)
}
