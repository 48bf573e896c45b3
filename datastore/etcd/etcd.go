// Package etcd runs etcd in the kite process (kite server --cluster-init):
// the API server stores the cluster in it over TLS, on loopback. Clients
// and peers must present a certificate of etcd's own CAs (server/pki), so
// no Kubernetes credential, a node's included, reaches the datastore.
package etcd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"

	"github.com/kite-project/kite/pkg/logging"
	"github.com/kite-project/kite/pkg/ports"
)

// Default ports, as etcd's and K3s's.
const (
	DefaultClientPort = 2379
	DefaultPeerPort   = 2380
)

// TLS is a certificate, its key and the CA it trusts its peers with.
type TLS struct {
	CertFile, KeyFile, CAFile string
}

// Config is one server's etcd member.
type Config struct {
	Dir        string // the data dir (pkg/datadir: EtcdDir)
	NameFile   string // keeps the member name (pkg/datadir: EtcdNameFile)
	NamePrefix string // the member name's start (the node name), a random suffix follows
	IP         net.IP // the server's address for peers and remote clients
	ClientPort int
	PeerPort   int
	Server     TLS // for clients: serving certificate, client CA
	Peer       TLS // for members: peer certificate, peer CA
	// Discard: the data dir holds a copy of another datastore that was
	// cut short; it is removed before etcd starts (Seed copies again).
	Discard bool
	// InitialCluster, for a member joining a cluster (the server it joined
	// added it as a learner): name=peerURL of every member. Empty: a new
	// one-member cluster. Only read at the first start.
	InitialCluster string
	// ForceNewCluster makes the member a cluster of one with its data
	// (kite server --cluster-reset), dropping the other members.
	ForceNewCluster bool
}

// Etcd is the datastore component.
type Etcd struct {
	Config
	Log *slog.Logger
	// Seed, if set, runs once etcd serves and before it is ready for the
	// API server, with a client of this member (datastore: the move of a
	// SQLite cluster into etcd).
	Seed func(ctx context.Context, c *clientv3.Client) error

	etcd   *embed.Etcd
	client *clientv3.Client // in-process; set before ready is closed (readyClient)
	ready  chan struct{}
}

// New returns the embedded etcd of c; zero ports are the defaults.
func New(c Config) *Etcd {
	if c.ClientPort == 0 {
		c.ClientPort = DefaultClientPort
	}
	if c.PeerPort == 0 {
		c.PeerPort = DefaultPeerPort
	}
	return &Etcd{Config: c, ready: make(chan struct{})}
}

func (e *Etcd) Name() string { return "datastore (embedded etcd)" }

// Endpoint is the address for the API server's --etcd-servers: loopback,
// so that the API server keeps its datastore when the network changes.
func (e *Etcd) Endpoint() string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(e.ClientPort))
}

// Ports are the addresses etcd listens on.
func (e *Etcd) Ports() []ports.Port {
	ps := []ports.Port{{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(e.ClientPort)), What: "etcd client"}}
	if !e.IP.IsLoopback() {
		ps = append(ps, ports.Port{Addr: net.JoinHostPort(e.IP.String(), strconv.Itoa(e.ClientPort)), What: "etcd client"})
	}
	return append(ps, ports.Port{Addr: net.JoinHostPort(e.IP.String(), strconv.Itoa(e.PeerPort)), What: "etcd peer"})
}

// Check makes sure etcd can start: its ports are free and its data dir,
// if there is one, is a folder. It writes nothing.
func (e *Etcd) Check() error {
	if st, err := os.Stat(e.Dir); err == nil && !st.IsDir() {
		return fmt.Errorf("etcd data dir %s is not a folder; move it aside", e.Dir)
	}
	if err := ports.Free(e.Ports()...); err != nil {
		return fmt.Errorf("%w, or stop the other etcd", err)
	}
	return nil
}

func (e *Etcd) Prepare(ctx context.Context) error {
	if e.Discard {
		member := filepath.Join(e.Dir, "member")
		e.log().Warn("removing the etcd data of a move from SQLite that was cut short; moving again", "dir", member)
		if err := os.RemoveAll(member); err != nil {
			return err
		}
	}
	return os.MkdirAll(e.Dir, 0o700)
}

func (e *Etcd) Run(ctx context.Context) error {
	name, err := e.memberName()
	if err != nil {
		return err
	}
	cfg, err := e.embedConfig(name)
	if err != nil {
		return err
	}
	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start etcd in %s: %w", e.Dir, err)
	}
	e.etcd = etcd
	defer etcd.Close()
	client := v3client.New(etcd.Server)
	defer client.Close()
	select {
	case <-etcd.Server.ReadyNotify():
		if err := e.waitVoter(ctx, etcd); err != nil || ctx.Err() != nil {
			return err
		}
		if e.Seed != nil {
			if err := e.Seed(ctx, client); err != nil {
				return err
			}
		}
		e.client = client
		close(e.ready)
		go e.tendLearners(ctx, client)
	case err := <-etcd.Err():
		return fmt.Errorf("etcd: %w", err)
	case <-ctx.Done():
		return nil
	}
	select {
	case err := <-etcd.Err():
		return fmt.Errorf("etcd: %w", err)
	case <-etcd.Server.StopNotify():
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("etcd stopped on its own: if this server's node was deleted, its member was removed from the cluster; start kite again and it joins as a new member (with --server), see the etcd lines above")
	case <-ctx.Done():
		return nil
	}
}

// waitVoter waits while this member is a learner (a server that just
// joined): a learner serves no writes nor consistent reads, so the API
// server starts once the leader has promoted it.
func (e *Etcd) waitVoter(ctx context.Context, etcd *embed.Etcd) error {
	said := false
	for etcd.Server.IsLearner() {
		if !said {
			e.log().Info("this etcd member is a learner until it has caught up and the leader promotes it; waiting")
			said = true
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-etcd.Err():
			return fmt.Errorf("etcd: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
	if said {
		e.log().Info("this etcd member votes now")
	}
	return nil
}

func (e *Etcd) Ready(ctx context.Context) error {
	select {
	case <-e.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StopTimeout leaves etcd time to hand over leadership and close its
// database.
func (e *Etcd) StopTimeout() time.Duration { return 20 * time.Second }

func (e *Etcd) embedConfig(name string) (*embed.Config, error) {
	cfg := embed.NewConfig()
	cfg.Name = name
	cfg.Dir = e.Dir
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logging.Zap(logging.Component(e.log(), "etcd")))

	clientURL := func(host string) url.URL {
		return url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(e.ClientPort))}
	}
	peer, _ := url.Parse(PeerURL(e.IP, e.PeerPort))
	cfg.ListenClientUrls = []url.URL{clientURL("127.0.0.1")}
	if !e.IP.IsLoopback() {
		cfg.ListenClientUrls = append(cfg.ListenClientUrls, clientURL(e.IP.String()))
	}
	cfg.AdvertiseClientUrls = []url.URL{clientURL(e.IP.String())}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = name + "=" + peer.String()
	cfg.ClusterState = embed.ClusterStateFlagNew
	if e.InitialCluster != "" {
		cfg.InitialCluster = e.InitialCluster
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}

	cfg.ForceNewCluster = e.ForceNewCluster
	cfg.ClientTLSInfo = transport.TLSInfo{CertFile: e.Server.CertFile, KeyFile: e.Server.KeyFile, TrustedCAFile: e.Server.CAFile, ClientCertAuth: true}
	cfg.PeerTLSInfo = transport.TLSInfo{CertFile: e.Peer.CertFile, KeyFile: e.Peer.KeyFile, TrustedCAFile: e.Peer.CAFile, ClientCertAuth: true}
	// The API server compacts every 5 minutes; etcd's own compactor stays
	// off, as in kubeadm's clusters.
	return cfg, cfg.Validate()
}

func (e *Etcd) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

// memberName is this server's etcd member name: read from NameFile, else
// a new one (NewMemberName), written there (0600) before etcd first starts.
func (e *Etcd) memberName() (string, error) {
	if b, err := os.ReadFile(e.NameFile); err == nil {
		name := strings.TrimSpace(string(b))
		if !ValidName(name) {
			return "", fmt.Errorf("etcd member name file %s holds %q, not a name; move the etcd data dir %s aside to start a new member", e.NameFile, name, e.Dir)
		}
		return name, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	name, err := NewMemberName(e.NamePrefix)
	if err != nil {
		return "", err
	}
	return name, WriteMemberName(e.NameFile, name)
}

// NewMemberName is prefix (the node name) and a random suffix: two servers
// may share a host name.
func NewMemberName(prefix string) (string, error) {
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", err
	}
	prefix = strings.ToLower(prefix)
	if prefix == "" {
		prefix = "kite"
	}
	return prefix + "-" + hex.EncodeToString(suffix), nil
}

// WriteMemberName keeps name in file (0600).
func WriteMemberName(file, name string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	return os.WriteFile(file, []byte(name+"\n"), 0o600)
}

// ValidName says whether name can be a member name kite made.
func ValidName(name string) bool { return len(name) <= 100 && validName.MatchString(name) }

var validName = regexp.MustCompile(`^[a-z0-9][-a-z0-9.]*$`)

// PeerURL is the peer URL of a member at ip.
func PeerURL(ip net.IP, port int) string {
	if port == 0 {
		port = DefaultPeerPort
	}
	return (&url.URL{Scheme: "https", Host: net.JoinHostPort(ip.String(), strconv.Itoa(port))}).String()
}
