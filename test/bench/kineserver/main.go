// Command kineserver is kine as its own command line runs it, from the
// module kite links, serving the etcd API on its own:
//   - with kine's SQLite driver (sqlite://…) it is the datastore of the
//     benchmark's baseline (upstream kube-apiserver, kube-scheduler and
//     kube-controller-manager as separate processes);
//   - with kite's SQLite backend (kite-sqlite://…, datastore/sqlite) it
//     lets test/bench/etcdload measure kite's datastore alone, beside the
//     baseline's, with no API server in front.
//
// The settings are kine's own command line defaults; the endpoint (SQLite
// file and its parameters) comes from the caller.
//
//	kineserver -listen unix:///tmp/kine.sock -endpoint 'sqlite:///tmp/db/state.db?_journal_mode=WAL&_busy_timeout=30000'
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/k3s-io/kine/pkg/endpoint"

	"github.com/kite-project/kite/datastore/kine"
	"github.com/kite-project/kite/datastore/sqlite"
)

func main() {
	listen := flag.String("listen", "", "where to serve the etcd API, e.g. unix:///run/kine.sock")
	ep := flag.String("endpoint", "", "the datastore: sqlite:///path/state.db?params (kine's driver) or "+sqlite.Scheme+":///path/state.db (kite's)")
	flag.Parse()
	if *listen == "" || *ep == "" {
		fmt.Fprintln(os.Stderr, "usage: kineserver -listen ADDR -endpoint DSN")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// kine's command line defaults, as kite's server uses them.
	cfg := kine.ListenConfig(*listen, *ep)
	if _, err := endpoint.Listen(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "kineserver:", err)
		os.Exit(1)
	}
	<-ctx.Done()
}
