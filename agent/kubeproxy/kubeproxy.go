// Package kubeproxy runs the upstream kube-proxy in the kite process,
// configured by flags only: with a config file, kube-proxy stops itself
// whenever the file is written.
package kubeproxy

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/kubernetes/cmd/kube-proxy/app"

	"github.com/kite-project/kite/server/health"
)

// KubeProxy is the kube-proxy component.
type KubeProxy struct {
	Args        []string
	HealthzAddr string // host:port of its health endpoint, from Args

	opts *app.Options
	errs chan error
}

func (k *KubeProxy) Name() string { return "kube-proxy" }

func (k *KubeProxy) Prepare(context.Context) error {
	k.opts = app.NewOptions()
	fs := pflag.NewFlagSet("kube-proxy", pflag.ContinueOnError)
	k.opts.AddFlags(fs)
	if err := fs.Parse(k.Args); err != nil {
		return fmt.Errorf("%w (check --kube-proxy-arg)", err)
	}
	if err := k.opts.Complete(fs); err != nil {
		return err
	}
	return k.opts.Validate()
}

// Run starts kube-proxy. Its own Run never returns on a cancelled context;
// it stops with the process, which ends right after a stop.
func (k *KubeProxy) Run(ctx context.Context) error {
	k.errs = make(chan error, 1)
	go func() { k.errs <- k.opts.Run(ctx) }()
	select {
	case err := <-k.errs:
		if ctx.Err() != nil {
			return nil
		}
		return err
	case <-ctx.Done():
		return nil
	}
}

func (k *KubeProxy) Ready(ctx context.Context) error {
	return health.WaitOK(ctx, health.Client(nil), "http://"+k.HealthzAddr+"/livez")
}
