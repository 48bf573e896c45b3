package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/kite-project/kite/datastore"
	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/pkg/datadir"
)

// datastoreCommand backs up a server's datastore; the restore is
// kite server --datastore-restore FILE (the server must be stopped).
func datastoreCommand() *cli.Command {
	dataDir := config.DefaultDataDir
	return &cli.Command{
		Name:         "datastore",
		Usage:        "back up the server's datastore (restore with 'kite server --datastore-restore FILE')",
		OnUsageError: usageError,
		Subcommands: []*cli.Command{
			{
				Name:         "backup",
				Usage:        "write a consistent copy of the datastore to FILE, while the server runs or not",
				ArgsUsage:    "FILE",
				OnUsageError: usageError,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "data-dir", Aliases: []string{"d"}, Usage: "the server's data dir", Value: dataDir, Destination: &dataDir, EnvVars: []string{"KITE_DATA_DIR"}},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("give one file to write the backup to: kite datastore backup FILE")
					}
					dst := c.Args().First()
					layout := datadir.New(dataDir)
					if _, err := os.Stat(layout.EtcdMemberDir()); err == nil {
						return fmt.Errorf("the server in %s keeps its cluster in embedded etcd (%s), not SQLite: 'kite datastore backup' backs up SQLite only", dataDir, layout.EtcdDir())
					}
					db := layout.DBFile()
					if err := datastore.Backup(c.Context, db, dst); err != nil {
						return err
					}
					st, err := os.Stat(dst)
					if err != nil {
						return err
					}
					fmt.Printf("backed up %s to %s (%.1f MB); restore it with: kite server --datastore-restore %s\n",
						db, dst, float64(st.Size())/(1<<20), dst)
					return nil
				},
			},
		},
	}
}
