// Package controllermanager runs the upstream kube-controller-manager in the
// kite process.
package controllermanager

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/spf13/pflag"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/rest"
	"k8s.io/component-base/configz"
	cmfeatures "k8s.io/controller-manager/pkg/features"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app/options"

	"github.com/kite-project/kite/pkg/component"
	"github.com/kite-project/kite/pkg/health"
	"github.com/kite-project/kite/pkg/logging"
	"github.com/kite-project/kite/pkg/ports"
	"github.com/kite-project/kite/server/metricsopts"
)

// ControllerManager is the kube-controller-manager component.
type ControllerManager struct {
	Args []string // flags, as on the kube-controller-manager command line

	opts *options.KubeControllerManagerOptions
}

func (c *ControllerManager) Name() string { return "kube-controller-manager" }

func (c *ControllerManager) Prepare(context.Context) error {
	opts, err := options.NewKubeControllerManagerOptions()
	if err != nil {
		return err
	}
	named := opts.Flags(app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases())
	opts.ParsedFlags = &named
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	for _, f := range named.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(c.Args); err != nil {
		return fmt.Errorf("%w (check --kube-controller-manager-arg)", err)
	}
	opts.Metrics = metricsopts.OrNil(opts.Metrics)
	// It watches every API, deprecated ones included, on purpose.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	c.opts = opts
	if err := opts.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	if opts.Generic.LeaderElection.LeaderElect {
		// With several servers it elects a leader; upstream's exits the
		// process when its election ends, a stop of kite included, unless
		// it releases the lease instead (alpha in 1.36).
		return utilfeature.DefaultMutableFeatureGate.SetFromMap(map[string]bool{string(cmfeatures.ControllerManagerReleaseLeaderElectionLockOnExit): true})
	}
	return nil
}

func (c *ControllerManager) Run(ctx context.Context) error {
	ctx = logging.KlogContext(ctx, "controller-manager") // its contextual klog lines name it
	cfg, err := c.opts.Config(ctx, app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases())
	if err != nil {
		return err
	}
	defer configz.Delete(app.ConfigzName) // upstream's Run registers it; a run after a lost lease does again
	// Its own context: the health endpoint ends with this run.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = app.Run(runCtx, cfg.Complete())
	if ctx.Err() != nil || err != nil || !c.opts.Generic.LeaderElection.LeaderElect {
		return err
	}
	// Several servers, and its election ended without a stop request: a slow
	// datastore missed a renewal. Its controllers have stopped; only they
	// start again, once its port is free.
	cancel()
	addr := net.JoinHostPort(c.opts.SecureServing.BindAddress.String(), strconv.Itoa(c.opts.SecureServing.BindPort))
	if err := waitPortFree(ctx, addr); err != nil {
		return err
	}
	return component.Restart(errors.New("kube-controller-manager lost its leader lease"))
}

// waitPortFree waits, up to 30 s, until addr can be listened on again.
func waitPortFree(ctx context.Context, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ports.Free(ports.Port{Addr: addr, What: "kube-controller-manager"})
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *ControllerManager) Ready(ctx context.Context) error {
	return health.WaitSelfSigned(ctx, c.opts.SecureServing.BindAddress, c.opts.SecureServing.BindPort)
}
