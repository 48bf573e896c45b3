// Package scheduler runs the upstream kube-scheduler in the kite process.
package scheduler

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"

	"github.com/kite-project/kite/pkg/health"
	"github.com/kite-project/kite/pkg/logging"
)

// Scheduler is the kube-scheduler component.
type Scheduler struct {
	Args []string // flags, as on the kube-scheduler command line

	opts    *options.Options
	started chan struct{}
	elected bool // several servers: it runs only while it leads
}

func (s *Scheduler) Name() string { return "kube-scheduler" }

func (s *Scheduler) Prepare(context.Context) error {
	s.opts = options.NewOptions()
	fs := pflag.NewFlagSet("kube-scheduler", pflag.ContinueOnError)
	for _, f := range s.opts.Flags.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(s.Args); err != nil {
		return fmt.Errorf("%w (check --kube-scheduler-arg)", err)
	}
	s.started = make(chan struct{})
	return s.opts.ComponentGlobalsRegistry.Set()
}

func (s *Scheduler) Run(ctx context.Context) error {
	ctx = logging.KlogContext(ctx, "scheduler") // its contextual klog lines name it
	cc, sched, err := app.Setup(ctx, s.opts)
	if err != nil {
		return err
	}
	elect := cc.LeaderElection
	if elect == nil {
		close(s.started)
		err = app.Run(ctx, cc, sched)
		if ctx.Err() != nil {
			return nil // Run always ends in an error; after a stop request that is expected
		}
		return err
	}
	// Several servers: kite runs the election, and upstream's Run, without
	// one, only while it leads. Upstream's own election ends the process
	// (os.Exit) when it stops, a stop of kite included.
	cc.LeaderElection = nil
	cc.ComponentConfig.LeaderElection.LeaderElect = false
	s.elected = true
	close(s.started)
	var runErr error
	elect.ReleaseOnCancel = true
	elect.Callbacks = leaderelection.LeaderCallbacks{
		OnStartedLeading: func(leading context.Context) { runErr = app.Run(leading, cc, sched) },
		OnStoppedLeading: func() {},
	}
	elector, err := leaderelection.NewLeaderElector(*elect)
	if err != nil {
		return err
	}
	elector.Run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("kube-scheduler lost its leader lease (%v); kite stops so that it starts again", runErr)
}

// Ready waits for the scheduler to be set up and, when it serves, for its
// health endpoint.
func (s *Scheduler) Ready(ctx context.Context) error {
	select {
	case <-s.started:
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.elected {
		return nil // it serves its health endpoint only while it leads
	}
	return health.WaitSelfSigned(ctx, s.opts.SecureServing.BindAddress, s.opts.SecureServing.BindPort)
}
