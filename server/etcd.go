package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/kite-project/kite/datastore/etcd"
	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/server/pki"
)

// datastoreChoice is how this server keeps the cluster.
type datastoreChoice struct {
	etcd bool
	// migrate: the cluster is in SQLite and moves into etcd at this start.
	migrate bool
	// discard: an earlier move was cut short; its etcd copy goes first.
	discard bool
	// join: a new member of the control plane of cfg.JoinURL.
	join bool
}

// chooseDatastore says whether this server keeps the cluster in embedded
// etcd: it does once it has an etcd data dir, and from the start with
// --cluster-init, which moves a cluster already in SQLite into etcd. A
// SQLite file still in place beside an etcd data dir is a move that was
// cut short: it runs again.
func chooseDatastore(cfg config.Server) (datastoreChoice, error) {
	layout := cfg.Layout()
	hasEtcd, err := exists(layout.EtcdMemberDir())
	if err != nil {
		return datastoreChoice{}, fmt.Errorf("etcd data dir: %w", err)
	}
	hasSQLite, err := exists(cfg.DBFile())
	if err != nil {
		return datastoreChoice{}, fmt.Errorf("SQLite database: %w", err)
	}
	switch {
	case cfg.External() && hasEtcd:
		return datastoreChoice{}, fmt.Errorf("--datastore-endpoint: this data dir keeps its cluster in embedded etcd (%s); give a fresh --data-dir to start on %s", layout.EtcdDir(), cfg.Datastore().Redacted)
	case cfg.External() && hasSQLite:
		return datastoreChoice{}, fmt.Errorf("--datastore-endpoint: this data dir keeps its cluster in SQLite (%s), which does not move to %s by itself; give a fresh --data-dir, or leave out --datastore-endpoint", layout.DBFile(), cfg.Datastore().Redacted)
	case cfg.External():
		return datastoreChoice{}, nil
	case cfg.JoinURL != "" && !hasEtcd && hasSQLite:
		return datastoreChoice{}, fmt.Errorf("--server: this data dir holds a cluster in SQLite (%s); a server that joins another starts empty: give it a fresh --data-dir", layout.DBFile())
	case cfg.JoinURL != "" && !hasEtcd:
		return datastoreChoice{etcd: true, join: true}, nil
	case hasEtcd && hasSQLite:
		return datastoreChoice{etcd: true, migrate: true, discard: true}, nil
	case hasEtcd:
		return datastoreChoice{etcd: true}, nil
	case cfg.ClusterInit:
		return datastoreChoice{etcd: true, migrate: hasSQLite}, nil
	}
	return datastoreChoice{}, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// etcdConfig is this server's etcd member: its data under the data dir,
// its certificates from the server's PKI, reachable by peers at the
// node's IP.
func etcdConfig(cfg config.Server, p pki.PKI, nodeIP net.IP) *etcd.Config {
	layout := cfg.Layout()
	prefix := cfg.Agent.NodeName
	if prefix == "" {
		prefix, _ = os.Hostname()
	}
	return &etcd.Config{
		Dir:        layout.EtcdDir(),
		NameFile:   layout.EtcdNameFile(),
		NamePrefix: prefix,
		IP:         nodeIP,
		Server:     etcd.TLS{CertFile: p.Cert(pki.EtcdServing), KeyFile: p.Key(pki.EtcdServing), CAFile: p.Cert(pki.EtcdServerCA)},
		Peer:       etcd.TLS{CertFile: p.Cert(pki.EtcdPeer), KeyFile: p.Key(pki.EtcdPeer), CAFile: p.Cert(pki.EtcdPeerCA)},
	}
}

// etcdSANs are the addresses etcd's certificates must carry besides
// loopback: the node's and the advertised one, and the host name.
func etcdSANs(nodeIP, advertiseIP net.IP) pki.SANs {
	s := pki.SANs{IPs: []net.IP{nodeIP}}
	if !advertiseIP.Equal(nodeIP) {
		s.IPs = append(s.IPs, advertiseIP)
	}
	if h, err := os.Hostname(); err == nil {
		s.DNSNames = []string{strings.ToLower(h)}
	}
	return s
}

// resetEtcd makes this server's etcd member a cluster of one with its data
// (--cluster-reset), for a control plane that lost its quorum: etcd starts
// with ForceNewCluster, serves, and stops.
func resetEtcd(ctx context.Context, c etcd.Config, log *slog.Logger) error {
	c.ForceNewCluster = true
	e := etcd.New(c)
	e.Log = log
	if err := e.Prepare(ctx); err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	readyCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	readyErr := e.Ready(readyCtx)
	stop()
	if err := <-done; err != nil {
		return err
	}
	if readyErr != nil {
		return fmt.Errorf("--cluster-reset: etcd did not start as a cluster of one: %w", readyErr)
	}
	return nil
}

// snapshotSchedule is when this server takes scheduled etcd snapshots; ""
// for none (--etcd-disable-snapshots).
func snapshotSchedule(cfg config.Server) string {
	if cfg.EtcdSnapshots.Disable {
		return ""
	}
	return cfg.EtcdSnapshots.Schedule
}
