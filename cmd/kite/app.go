package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/kite-project/kite/agent"
	"github.com/kite-project/kite/pkg/cliflags"
	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/pkg/logging"
	"github.com/kite-project/kite/pkg/memlimit"
	"github.com/kite-project/kite/pkg/version"
	"github.com/kite-project/kite/server"
)

func newApp() *cli.App {
	cli.VersionPrinter = func(*cli.Context) { fmt.Println(version.String()) }
	return &cli.App{
		Name:    "kite",
		Usage:   "a whole Kubernetes cluster in one binary",
		Version: version.Version,
		// Pass-through flags carry commas of their own (e.g.
		// --kube-apiserver-arg=enable-admission-plugins=A,B).
		DisableSliceFlagSeparator: true,
		OnUsageError:              usageError,
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(os.Stderr, "kite: error: no command %q; see 'kite --help'\n", name)
			os.Exit(1)
		},
		Commands: append([]*cli.Command{
			serverCommand(),
			agentCommand(),
			tokenCommand(),
			nodeCommand(),
			datastoreCommand(),
			etcdSnapshotCommand(),
			checkConfigCommand(),
			{
				Name:            "kubectl",
				Usage:           "run kubectl against this cluster (uses " + config.DefaultKubeconfig + " unless KUBECONFIG is set)",
				SkipFlagParsing: true,
				Action: func(c *cli.Context) error {
					os.Exit(runKubectl(c.Args().Slice()))
					return nil
				},
			},
		}, runtimeCommands()...),
	}
}

// usageError turns urfave's usage errors (unknown flag, bad value) into one
// line naming the fix, instead of a page of help.
func usageError(c *cli.Context, err error, _ bool) error {
	cmd := "kite"
	if c.Command != nil && c.Command.Name != "" {
		cmd += " " + c.Command.Name
	}
	return fmt.Errorf("%v; see '%s --help'", err, cmd)
}

func serverCommand() *cli.Command {
	cfg := config.NewServer()
	return &cli.Command{
		Name:         "server",
		Usage:        "run the control plane (datastore, API server, scheduler, controller-manager) and, unless --disable-agent, this node",
		Flags:        cliflags.Server(&cfg),
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return fmt.Errorf("unexpected argument %q; kite server takes only flags, see 'kite server --help'", c.Args().First())
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			if !cfg.DisableAgent && os.Geteuid() != 0 {
				return fmt.Errorf("the node (containerd, kubelet, kube-proxy) needs root; run kite server as root, or pass --disable-agent to run the control plane alone")
			}
			ctx, stop := signalContext()
			defer stop()
			log, err := logging.Setup(cliflags.LogOptions(c))
			if err != nil {
				return err
			}
			log.Info("starting kite server", "version", version.Version, "kubernetes", version.Kubernetes(), "data-dir", cfg.DataDir)
			need := memlimit.ServerMinimum
			if cfg.DisableAgent {
				need = 0 // not measured for the control plane alone
			}
			lim, err := checkMemory(log, need, "kite server with its node")
			if err != nil {
				return err
			}
			setServerGoLimit(log, lim)
			if err := server.Run(ctx, cfg, log, func() { settle(ctx, log, true) }); err != nil {
				return err
			}
			log.Info("kite server stopped")
			return nil
		},
	}
}

// agentCommand runs a node that joins a server.
func agentCommand() *cli.Command {
	a := config.NewAgentCommand()
	return &cli.Command{
		Name:         "agent",
		Usage:        "run a node that joins a kite server: kite agent --server https://HOST:6443 --token TOKEN",
		Flags:        cliflags.AgentCommand(&a),
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return fmt.Errorf("unexpected argument %q; kite agent takes only flags, see 'kite agent --help'", c.Args().First())
			}
			if err := a.Validate(); err != nil {
				return err
			}
			if os.Geteuid() != 0 {
				return fmt.Errorf("the node (containerd, kubelet, kube-proxy, flannel) needs root; run kite agent as root")
			}
			ctx, stop := signalContext()
			defer stop()
			log, err := logging.Setup(cliflags.LogOptions(c))
			if err != nil {
				return err
			}
			log.Info("starting kite agent", "version", version.Version, "kubernetes", version.Kubernetes(), "data-dir", a.DataDir, "server", a.Server)
			if _, err := checkMemory(log, memlimit.AgentMinimum, "kite agent"); err != nil {
				return err
			}
			err = agent.Run(ctx, agent.Options{
				DataDir: a.DataDir,
				Agent:   a.Agent,
				Server:  a.Server,
				Token:   a.ParsedToken,
				LBPort:  a.LBServerPort,
				Log:     log,
				OnReady: func() { settle(ctx, log, false) },
			})
			if err != nil {
				return err
			}
			log.Info("kite agent stopped")
			return nil
		},
	}
}

// signalContext ends at the first SIGINT or SIGTERM, which asks for an
// orderly stop; a second one, with the default handling restored, ends the
// process at once.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	return ctx, stop
}
