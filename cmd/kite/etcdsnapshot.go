package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kite-project/kite/datastore/etcd"
	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/pkg/datadir"
	"github.com/kite-project/kite/server/pki"
	"github.com/kite-project/kite/server/snapshots"
)

// snapshotOptions are the settings of kite etcd-snapshot; the config
// file's server settings of the same names apply (withConfigFile).
type snapshotOptions struct {
	dataDir, dir, nodeName, name string
	compress                     bool
	retention                    int
}

func (o *snapshotOptions) snapshotDir() string {
	if o.dir != "" {
		return o.dir
	}
	return datadir.New(o.dataDir).SnapshotsDir()
}

func (o *snapshotOptions) node() string { return config.SnapshotNode(o.nodeName) }

// etcdSnapshotCommand saves, lists, deletes and prunes this server's etcd
// snapshots; the restore is kite server --cluster-reset
// --cluster-reset-restore-path FILE.
func etcdSnapshotCommand() *cli.Command {
	o := snapshotOptions{dataDir: config.DefaultDataDir}
	common := func(extra ...cli.Flag) []cli.Flag {
		return append([]cli.Flag{
			&cli.StringFlag{Name: "data-dir", Aliases: []string{"d"}, Usage: "the server's data dir", Value: o.dataDir, Destination: &o.dataDir, EnvVars: []string{"KITE_DATA_DIR"}},
			&cli.StringFlag{Name: "etcd-snapshot-dir", Aliases: []string{"dir"}, Usage: "folder of the snapshots (default: <data-dir>/server/db/snapshots)", Destination: &o.dir},
			&cli.StringFlag{Name: "node-name", Usage: "this server's node name, in the snapshots' names (default: the host name)", Destination: &o.nodeName, EnvVars: []string{"KITE_NODE_NAME"}},
		}, extra...)
	}
	nameFlag := func(def string) cli.Flag {
		return &cli.StringFlag{Name: "name", Usage: "snapshot name, before -<node>-<time>", Value: def, Destination: &o.name}
	}
	return &cli.Command{
		Name:         "etcd-snapshot",
		Usage:        "save, list, delete and prune the embedded etcd's snapshots (restore with 'kite server --cluster-reset --cluster-reset-restore-path FILE')",
		OnUsageError: usageError,
		Subcommands: []*cli.Command{
			{
				Name:         "save",
				Usage:        "take a snapshot of the cluster now, while the server runs",
				OnUsageError: usageError,
				Flags: common(nameFlag(snapshots.OnDemandName),
					&cli.BoolFlag{Name: "etcd-snapshot-compress", Aliases: []string{"compress"}, Usage: "gzip the snapshot", Destination: &o.compress}),
				Action: func(c *cli.Context) error {
					if err := noArgs(c); err != nil {
						return err
					}
					if err := snapshots.CheckName(o.name); err != nil {
						return err
					}
					client, err := etcdClient(c.Context, o.dataDir)
					if err != nil {
						return err
					}
					defer client.Close()
					start := time.Now()
					f, err := snapshots.Save(c.Context, client, o.snapshotDir(), o.name, o.node(), o.compress, start)
					if err != nil {
						return err
					}
					fmt.Printf("saved %s (%s) in %s; restore it with: kite server --cluster-reset --cluster-reset-restore-path %s\n",
						f.Path, megabytes(f.Size), time.Since(start).Round(time.Millisecond), f.Path)
					return nil
				},
			},
			{
				Name:         "ls",
				Aliases:      []string{"list"},
				Usage:        "list this server's snapshots, oldest first",
				OnUsageError: usageError,
				Flags:        common(),
				Action: func(c *cli.Context) error {
					if err := noArgs(c); err != nil {
						return err
					}
					files, err := snapshots.List(o.snapshotDir())
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "NAME\tLOCATION\tSIZE\tCREATED")
					for _, f := range files {
						fmt.Fprintf(w, "%s\tfile://%s\t%d\t%s\n", f.Name, f.Path, f.Size, f.Created.UTC().Format(time.RFC3339))
					}
					return w.Flush()
				},
			},
			{
				Name:         "delete",
				Aliases:      []string{"rm"},
				Usage:        "delete snapshots of this server by name (as 'ls' shows them)",
				ArgsUsage:    "NAME...",
				OnUsageError: usageError,
				Flags:        common(),
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 {
						return fmt.Errorf("name the snapshots to delete: kite etcd-snapshot delete NAME... (see 'kite etcd-snapshot ls')")
					}
					if err := snapshots.Delete(o.snapshotDir(), c.Args().Slice()...); err != nil {
						return err
					}
					fmt.Printf("deleted %d snapshot(s)\n", c.NArg())
					return nil
				},
			},
			{
				Name:         "prune",
				Usage:        "delete this server's oldest snapshots of a name, keeping the newest --snapshot-retention",
				OnUsageError: usageError,
				Flags: common(nameFlag(snapshots.ScheduledName),
					&cli.IntFlag{Name: "etcd-snapshot-retention", Aliases: []string{"snapshot-retention"}, Usage: "how many to keep", Value: config.DefaultSnapshotRetention, Destination: &o.retention}),
				Action: func(c *cli.Context) error {
					if err := noArgs(c); err != nil {
						return err
					}
					if err := snapshots.CheckName(o.name); err != nil {
						return err
					}
					if o.retention < 1 {
						return fmt.Errorf("--snapshot-retention %d: keep at least 1", o.retention)
					}
					removed, err := snapshots.Prune(o.snapshotDir(), o.name, o.node(), o.retention)
					for _, r := range removed {
						fmt.Println("deleted", r)
					}
					return err
				},
			},
		},
	}
}

func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; see 'kite etcd-snapshot %s --help'", c.Args().First(), c.Command.Name)
	}
	return nil
}

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// etcdClient reaches the embedded etcd of the server in dataDir on
// loopback, with the etcd client certificate of its PKI.
func etcdClient(ctx context.Context, dataDir string) (*clientv3.Client, error) {
	layout := datadir.New(dataDir)
	if _, err := os.Stat(layout.EtcdMemberDir()); err != nil {
		return nil, fmt.Errorf("the server in %s runs no embedded etcd (%s): etcd snapshots are for servers started with --cluster-init or --server; back up SQLite with 'kite datastore backup'", dataDir, layout.EtcdDir())
	}
	p := pki.PKI{Dir: layout.ServerTLSDir()}
	tlsConfig, err := transport.TLSInfo{CertFile: p.Cert(pki.EtcdClient), KeyFile: p.Key(pki.EtcdClient), TrustedCAFile: p.Cert(pki.EtcdServerCA)}.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd client certificate: %w; run as root", err)
	}
	endpoint := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(etcd.DefaultClientPort))
	// Its errors are returned; its own log (JSON on stderr) would be noise.
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: tlsConfig, DialTimeout: 5 * time.Second, Context: ctx, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	statusCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := client.Status(statusCtx, endpoint); err != nil {
		client.Close()
		return nil, fmt.Errorf("cannot reach etcd at %s (%v): is kite server running on %s?", endpoint, err, dataDir)
	}
	return client, nil
}
