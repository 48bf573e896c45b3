// Package kubeproxy runs the upstream kube-proxy in the kite process,
// configured by flags only: with a config file, kube-proxy stops itself
// whenever the file is written.
package kubeproxy

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/kubernetes/cmd/kube-proxy/app"

	"github.com/kite-project/kite/pkg/component"
	"github.com/kite-project/kite/pkg/health"
	"github.com/kite-project/kite/pkg/logging"
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
	ctx = logging.KlogContext(ctx, "kube-proxy") // its contextual klog lines name it
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

// Ready returns at once: kube-proxy starts before the kubelet, so that its
// rules for Service IPs are in place before the first pod runs (a pod's
// connection to the API server's Service IP made before them is never
// translated, and hangs until its TCP timeout), but it cannot sync until
// the kubelet has registered the node. Synced waits for that first sync.
func (k *KubeProxy) Ready(context.Context) error { return nil }

// Synced returns the component, placed after the kubelet, whose readiness
// is kube-proxy's first sync.
func (k *KubeProxy) Synced() component.Component { return synced{k} }

type synced struct{ k *KubeProxy }

func (s synced) Name() string                  { return "kube-proxy first sync" }
func (s synced) Prepare(context.Context) error { return nil }
func (s synced) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (s synced) Ready(ctx context.Context) error {
	return health.WaitOK(ctx, health.Client(nil), "http://"+s.k.HealthzAddr+"/livez")
}
