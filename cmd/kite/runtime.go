package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	containerdcmd "github.com/containerd/containerd/v2/cmd/containerd/command"
	ctrapp "github.com/containerd/containerd/v2/cmd/ctr/app"
	"github.com/urfave/cli/v2"

	_ "github.com/containerd/containerd/v2/cmd/containerd/builtins" // containerd's plugins: CRI, overlayfs, ...

	"github.com/kite-project/kite/agent/bundle"
	"github.com/kite-project/kite/agent/containerd"
	"github.com/kite-project/kite/agent/images"
	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/pkg/datadir"
	"github.com/kite-project/kite/pkg/logging"
	"github.com/kite-project/kite/pkg/memtrim"
)

// dataDir is the data dir for the runtime commands: $KITE_DATA_DIR or the
// default.
func dataDir() string {
	if d := os.Getenv("KITE_DATA_DIR"); d != "" {
		return d
	}
	return config.DefaultDataDir
}

// layout is that data dir's map, the agent's.
func layout() datadir.Layout { return datadir.New(dataDir()) }

func containerdSocket() string { return layout().ContainerdSocket() }

func runtimeCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:            "containerd",
			Usage:           "run containerd (started by the agent; not for direct use)",
			Hidden:          true,
			SkipFlagParsing: true,
			Action: func(c *cli.Context) error {
				// The agent re-emits our output as its own lines
				// (agent/containerd): every line in its format, JSON.
				log, err := logging.Setup(logging.FromEnv("containerd"))
				if err != nil {
					return err
				}
				// Installed before containerd serves, hence before the
				// agent can send it (its default action would end us).
				settled := make(chan os.Signal, 1)
				signal.Notify(settled, containerd.SettledSignal)
				go func() {
					warn := func(err error) {
						log.Warn("could not release memory", "err", err)
					}
					<-settled
					memtrim.Settle(context.Background(), false, warn)
				}()
				return containerdcmd.App().Run(context.Background(), append([]string{"containerd"}, c.Args().Slice()...))
			},
		},
		{
			Name:            "ctr",
			Usage:           "run ctr against the node's containerd (namespace k8s.io; $KITE_DATA_DIR picks the data dir)",
			SkipFlagParsing: true,
			Action: func(c *cli.Context) error {
				setDefaultEnv("CONTAINERD_ADDRESS", containerdSocket())
				setDefaultEnv("CONTAINERD_NAMESPACE", images.Namespace)
				return ctrapp.New().Run(context.Background(), append([]string{"ctr"}, c.Args().Slice()...))
			},
		},
		{
			Name:            "crictl",
			Usage:           "run crictl against the node's containerd ($KITE_DATA_DIR picks the data dir)",
			SkipFlagParsing: true,
			Action: func(c *cli.Context) error {
				return execCrictl(c.Args().Slice())
			},
		},
	}
}

func setDefaultEnv(key, value string) {
	if os.Getenv(key) == "" {
		os.Setenv(key, value)
	}
}

// execCrictl replaces kite with the crictl that kite ships.
func execCrictl(args []string) error {
	d, _, err := bundle.Unpack(layout())
	if err != nil {
		return err
	}
	setDefaultEnv("CRI_CONFIG_FILE", layout().CrictlConfig())
	setDefaultEnv("CONTAINER_RUNTIME_ENDPOINT", "unix://"+containerdSocket())
	setDefaultEnv("IMAGE_SERVICE_ENDPOINT", "unix://"+containerdSocket())
	bin := filepath.Join(d.Bin(), "crictl")
	if _, err := exec.LookPath(bin); err != nil {
		return fmt.Errorf("crictl: %w", err)
	}
	return syscall.Exec(bin, append([]string{"crictl"}, args...), os.Environ())
}
