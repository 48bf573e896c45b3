package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/kite-project/kite/pkg/cliflags"
	"github.com/kite-project/kite/pkg/config"
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
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			// The first signal asks for an orderly stop; a second one, with
			// the default handling restored, ends the process at once.
			go func() { <-ctx.Done(); stop() }()
			log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "kite")
			log.Info("starting kite server", "version", version.Version, "kubernetes", version.Kubernetes(), "data-dir", cfg.DataDir)
			if err := server.Run(ctx, cfg, log); err != nil {
				return err
			}
			log.Info("kite server stopped")
			return nil
		},
	}
}

// agentCommand is the node-only command. Joining a server on another host
// (the token's CA pinning, the server's join endpoint) is not built yet;
// until then `kite server` runs the node on its own host.
func agentCommand() *cli.Command {
	var a config.Agent
	var server, token string
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "server", Aliases: []string{"s"}, Usage: "URL of the server to join, https://HOST:6443", Destination: &server, EnvVars: []string{"KITE_URL"}},
		&cli.StringFlag{Name: "token", Aliases: []string{"t"}, Usage: "the server's join token", Destination: &token, EnvVars: []string{"KITE_TOKEN"}},
	}, cliflags.Agent(&a)...)
	return &cli.Command{
		Name:         "agent",
		Usage:        "run a node that joins a server (not available yet: use kite server, which runs the node too)",
		Flags:        flags,
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			if err := a.Validate(); err != nil {
				return err
			}
			return fmt.Errorf("joining a server from another host is not implemented yet; on the server's own host, kite server already runs this node (pass --disable-agent to run the control plane alone)")
		},
	}
}
