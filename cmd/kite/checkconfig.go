package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/kite-project/kite/pkg/checkconfig"
	"github.com/kite-project/kite/pkg/config"
)

func checkConfigCommand() *cli.Command {
	dataDir := config.DefaultDataDir
	return &cli.Command{
		Name:  "check-config",
		Usage: "check whether this host can run a kite node: kernel features, cgroups, commands, capabilities, swap, memory, disk (exit 1 on a fail)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Aliases: []string{"d"}, Usage: "the data dir whose disk to check", Value: dataDir, Destination: &dataDir, EnvVars: []string{"KITE_DATA_DIR"}},
		},
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			results := checkconfig.Run(checkconfig.Host{DataDir: dataDir})
			for _, r := range results {
				fmt.Println(r)
			}
			if checkconfig.Failed(results) {
				return cli.Exit("kite check-config: this host cannot run a kite node as it is; see the fail lines above", 1)
			}
			return nil
		},
	}
}
