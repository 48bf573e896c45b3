// Package scheduler runs the upstream kube-scheduler in the kite process.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/component-base/configz"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/config"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	upstream "k8s.io/kubernetes/pkg/scheduler"

	"github.com/kite-project/kite/pkg/component"
	"github.com/kite-project/kite/pkg/health"
	"github.com/kite-project/kite/pkg/logging"
	"github.com/kite-project/kite/server/metricsopts"
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
	s.opts.Metrics = metricsopts.OrNil(s.opts.Metrics)
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
	defer configz.Delete("componentconfig") // upstream's Run registers it; a run after a lost lease does again
	lost, err := s.lead(ctx, *elect, cc, sched)
	if ctx.Err() != nil {
		return nil
	}
	if lost {
		// A slow datastore can miss a renewal; another server, or this one
		// again, takes over. Only the scheduler starts again, from scratch
		// (its queue and informers end with its term).
		return component.Restart(errors.New("kube-scheduler lost its leader lease"))
	}
	return err
}

// lead campaigns for the lease and runs the scheduler while it holds it. It
// returns once the term is over, with lost true when the lease was lost, or
// the error of a scheduler that ended while it still led.
func (s *Scheduler) lead(ctx context.Context, elect leaderelection.LeaderElectionConfig, cc *config.CompletedConfig, sched *upstream.Scheduler) (lost bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The elector starts the term in a goroutine of its own: the mutex and
	// the WaitGroup make sure that a term either starts before the election
	// is over, and is waited for, or not at all.
	var (
		mu      sync.Mutex
		over    bool
		term    sync.WaitGroup
		ran     bool
		runErr  error
		stopped bool // the scheduler ended while it led
	)
	elect.ReleaseOnCancel = true
	elect.Callbacks = leaderelection.LeaderCallbacks{
		OnStartedLeading: func(leading context.Context) {
			mu.Lock()
			if over {
				mu.Unlock()
				return
			}
			term.Add(1)
			ran = true
			mu.Unlock()
			defer term.Done()
			runErr = app.Run(leading, cc, sched)
			if leading.Err() == nil {
				stopped = true
				cancel() // ends the election, and gives the lease up
			}
		},
		OnStoppedLeading: func() {},
	}
	elector, err := leaderelection.NewLeaderElector(elect)
	if err != nil {
		return false, err
	}
	elector.Run(ctx)
	mu.Lock()
	over = true
	mu.Unlock()
	term.Wait()
	if !ran && cc.SecureServing != nil {
		cc.SecureServing.Listener.Close() // bound by Setup, served only by a term
	}
	if stopped {
		return false, fmt.Errorf("kube-scheduler stopped while it led: %w", runErr)
	}
	return ctx.Err() == nil, nil
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
