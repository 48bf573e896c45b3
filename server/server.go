// Package server runs the Kubernetes control plane of `kite server`: the
// datastore, kube-apiserver, kube-scheduler and kube-controller-manager, in
// this process, in that order.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kite-project/kite/agent"
	"github.com/kite-project/kite/datastore"
	"github.com/kite-project/kite/datastore/etcd"
	"github.com/kite-project/kite/pkg/component"
	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/pkg/dbendpoint"
	"github.com/kite-project/kite/pkg/health"
	"github.com/kite-project/kite/pkg/joinapi"
	"github.com/kite-project/kite/pkg/kubeconfig"
	"github.com/kite-project/kite/pkg/lock"
	"github.com/kite-project/kite/pkg/token"
	"github.com/kite-project/kite/server/addons"
	"github.com/kite-project/kite/server/apiserver"
	"github.com/kite-project/kite/server/bootstrap"
	"github.com/kite-project/kite/server/controllermanager"
	"github.com/kite-project/kite/server/flags"
	"github.com/kite-project/kite/server/helmcontroller"
	"github.com/kite-project/kite/server/join"
	"github.com/kite-project/kite/server/localstorage"
	"github.com/kite-project/kite/server/manifests"
	"github.com/kite-project/kite/server/metricsserver"
	"github.com/kite-project/kite/server/nodehosts"
	"github.com/kite-project/kite/server/noderemoval"
	"github.com/kite-project/kite/server/pki"
	"github.com/kite-project/kite/server/scheduler"
	"github.com/kite-project/kite/server/servicelb"
	"github.com/kite-project/kite/server/snapshots"
	"github.com/kite-project/kite/server/tunnel"
)

// Run starts the control plane described by cfg (already validated) and
// keeps it running until ctx is cancelled. The data dir, its lock and the
// port are checked before any file is written; a file that is written is
// only ever added or brought up to date, never replaced when unreadable.
// onReady is called once the server (and its node) is ready.
func Run(ctx context.Context, cfg config.Server, log *slog.Logger, onReady func()) error {
	started := time.Now()
	layout := cfg.Layout()
	lk, err := lock.DataDir(layout.Root, layout.ServerDir())
	if err != nil {
		return err
	}
	defer lk.Release()
	if err := checkWritable(layout.ServerDir()); err != nil {
		return err
	}
	nodeIP, advertiseIP, err := addresses(cfg)
	if err != nil {
		return err
	}
	p := pki.PKI{Dir: layout.ServerTLSDir()}
	// A damaged database or backup, or etcd's ports in use, stop the start
	// before anything is written.
	storeOptions := datastore.Options{DBFile: cfg.DBFile(), Socket: layout.KineSocket(), RestoreFrom: cfg.DatastoreRestore, Log: log}
	if cfg.External() {
		storeOptions.External, storeOptions.ExternalTLS, storeOptions.Pool = cfg.Datastore(), cfg.DatastoreTLS, cfg.DatastorePool
	}
	if cfg.JoinURL != "" && !cfg.ClusterReset {
		if _, err := os.Stat(layout.EtcdMemberDir()); err == nil {
			if err := rejoinIfRemoved(ctx, cfg, log); err != nil {
				return err
			}
		}
	}
	choice, err := chooseDatastore(cfg)
	if err != nil {
		return err
	}
	useEtcd := choice.etcd
	if useEtcd {
		storeOptions.Etcd = etcdConfig(cfg, p, nodeIP)
		storeOptions.Etcd.Discard = choice.discard
		storeOptions.MigrateFromSQLite = choice.migrate
	}
	if err := datastore.Check(ctx, storeOptions); err != nil {
		return err
	}
	if cfg.ClusterResetRestorePath != "" {
		member := etcdConfig(cfg, p, nodeIP)
		if err := restoreSnapshot(cfg, p, *member, log); err != nil {
			return err
		}
		log.Warn("etcd is now a cluster of one holding the snapshot; start kite again without --cluster-reset. Start each other server with --server https://" + net.JoinHostPort(advertiseIP.String(), strconv.Itoa(cfg.HTTPSPort)) + " and the server token: it keeps its old etcd data aside and joins again as a new member")
		return nil
	}
	if cfg.ClusterReset {
		if !useEtcd || choice.migrate || choice.join {
			return fmt.Errorf("--cluster-reset: this server has no etcd data (%s) to reset; it is for a server of an etcd cluster that lost its quorum", layout.EtcdMemberDir())
		}
		if err := resetEtcd(ctx, *storeOptions.Etcd, log); err != nil {
			return err
		}
		log.Warn("etcd is now a cluster of one with this server's data; start kite again without --cluster-reset. Start each other server with --server https://" + net.JoinHostPort(advertiseIP.String(), strconv.Itoa(cfg.HTTPSPort)) + " and the server token: it keeps its old etcd data aside and joins again as a new member")
		return nil
	}
	listener, err := listen(cfg)
	if err != nil {
		return err
	}
	defer listener.Close()
	if choice.join {
		if err := joinControlPlane(ctx, &cfg, p, storeOptions.Etcd, log); err != nil {
			return err
		}
	}

	sans := apiServerSANs(cfg, nodeIP, advertiseIP)
	if cfg.External() {
		if err := shareKeysViaDatastore(ctx, &cfg, p, sans, storeOptions, log); err != nil {
			return err
		}
	}
	log.Info("checking certificates", "dir", layout.ServerTLSDir())
	if err := p.Ensure(sans, time.Now()); err != nil {
		return fmt.Errorf("server PKI: %w", err)
	}
	if useEtcd {
		if err := p.EnsureEtcd(etcdSANs(nodeIP, advertiseIP), time.Now()); err != nil {
			return fmt.Errorf("etcd PKI: %w", err)
		}
	}
	caPEM, err := os.ReadFile(p.Cert(pki.ServerCA))
	if err != nil {
		return err
	}
	serverToken, err := token.Ensure(layout.TokenFile(), cfg.Token, token.HashCA(caPEM), token.ServerUser)
	if err != nil {
		return err
	}
	agentSecret, agentTokenFull := "", ""
	if _, statErr := os.Stat(layout.AgentTokenFile()); cfg.AgentToken != "" || statErr == nil {
		agentToken, err := token.Ensure(layout.AgentTokenFile(), cfg.AgentToken, token.HashCA(caPEM), token.AgentUser)
		if err != nil {
			return err
		}
		agentSecret, agentTokenFull = agentToken.Password, agentToken.String()
	}

	in := flags.Inputs{
		// Several servers may share the cluster: they elect leaders.
		LeaderElect:                 useEtcd || cfg.External(),
		AdvertiseIP:                 advertiseIP.String(),
		SchedulerKubeconfig:         layout.SchedulerKubeconfig(),
		ControllerManagerKubeconfig: layout.ControllerManagerKubeconfig(),
	}
	if err := writeKubeconfigs(cfg, p, in); err != nil {
		return err
	}
	readyClient, err := adminClient(p, caPEM)
	if err != nil {
		return err
	}
	adminConfig, err := clientcmd.BuildConfigFromFlags("", layout.AdminKubeconfig())
	if err != nil {
		return err
	}
	admin, err := kubernetes.NewForConfig(adminConfig)
	if err != nil {
		return err
	}
	// One set of informers for kite's own controllers in this process,
	// started by one component (sharedInformers, below).
	shared := informers.NewSharedInformerFactory(admin, 10*time.Minute)
	tun := tunnel.New(p, log)
	// The join path has a client of its own: a flood of join attempts
	// must not spend the rate limit of the controllers above, nor theirs
	// delay a real join. Its bootstrap tokens come from a watch (the
	// cache is a component, below), never from a request per join.
	joinConfig := rest.CopyConfig(adminConfig)
	joinConfig.QPS, joinConfig.Burst = 20, 40
	joinClient, err := kubernetes.NewForConfig(joinConfig)
	if err != nil {
		return err
	}
	store := datastore.New(storeOptions)
	servers := join.ServerJoin{Settings: sharedSettings(cfg), AgentToken: agentTokenFull}
	if members, ok := store.(join.EtcdMembers); ok {
		servers.Etcd = members
	}
	tokenCache := &join.TokenCache{Client: joinClient}
	removals := &noderemoval.Registry{Client: admin, PasswordSecret: join.PasswordSecretName, Log: log}
	joinHandler := &join.Handler{
		PKI: p,
		Config: joinapi.Config{
			ClusterCIDR:    cfg.ClusterCIDR,
			ServiceCIDR:    cfg.ServiceCIDR,
			ClusterDNS:     cfg.ClusterDNS,
			ClusterDomain:  cfg.ClusterDomain,
			FlannelBackend: cfg.FlannelBackend,
			Servers:        []string{net.JoinHostPort(advertiseIP.String(), strconv.Itoa(cfg.HTTPSPort))},
		},
		Rules:          nodeRules(cfg, sans),
		ServerSecret:   serverToken.Password,
		AgentSecret:    agentSecret,
		Client:         joinClient,
		Tokens:         tokenCache,
		Removed:        removals.Refused,
		RemovalsLoaded: removals.Loaded,
		Servers:        servers,
		Tunnel:         tun,
		Log:            log,
	}

	// The packaged add-ons' manifests, for the manifests component.
	if err := addons.Write(layout.ManifestsDir(), addons.Settings{
		ClusterDNS: cfg.ClusterDNS, ClusterDomain: cfg.ClusterDomain, ClusterCIDR: cfg.ClusterCIDR, ServiceCIDR: cfg.ServiceCIDR,
	}, cfg.Disabled); err != nil {
		return fmt.Errorf("add-on manifests: %w", err)
	}

	// metrics-server, in this process, serves on loopback; the API server
	// sends the metrics API's requests there.
	metrics := &metricsserver.Server{
		Kubeconfig:  layout.AdminKubeconfig(),
		KubeletCA:   p.Cert(pki.KubeletServingCA),
		CertDir:     layout.MetricsServerCertDir(),
		KubeletDial: tun.Dial,
		Client:      admin,
		Log:         log,
	}
	resolveService := func(namespace, name string) *url.URL {
		if namespace == metricsserver.ServiceNamespace && name == metricsserver.ServiceName && !cfg.Disabled("metrics-server") {
			return metrics.Endpoint()
		}
		return nil
	}

	in.EtcdEndpoint = store.Endpoint()
	if useEtcd {
		in.EtcdCAFile, in.EtcdCertFile, in.EtcdKeyFile = p.Cert(pki.EtcdServerCA), p.Cert(pki.EtcdClient), p.Key(pki.EtcdClient)
	}
	if storeOptions.External.Kind == dbendpoint.Etcd {
		t := cfg.DatastoreTLS
		in.EtcdCAFile, in.EtcdCertFile, in.EtcdKeyFile = t.CAFile, t.CertFile, t.KeyFile
	}
	components := []component.Component{
		store,
		&apiserver.APIServer{
			Args:        flags.APIServer(&cfg, in),
			Listener:    listener,
			ReadyURL:    cfg.APIServerURL() + "/readyz",
			ReadyClient: readyClient,
			// Removed nodes are refused before anything else sees them.
			Wrap:           func(h http.Handler) http.Handler { return removals.Wrap(joinHandler.Wrap(h)) },
			KubeletDial:    tun.Dial,
			ResolveService: resolveService,
		},
		&scheduler.Scheduler{Args: flags.Scheduler(&cfg, in)},
		&controllermanager.ControllerManager{Args: flags.ControllerManager(&cfg, in)},
		tokenCache,
		removals,
		// Before the controllers that share it (they register in Prepare).
		sharedInformers{factory: shared},
		&join.Setup{Client: admin, Informers: shared, Tunnel: tun, Log: log},
		// Before the manifests: HelmChart files apply once its kinds exist.
		&helmcontroller.Controller{Config: adminConfig, Kubeconfig: layout.AdminKubeconfig(),
			ManifestsDir: layout.ManifestsDir(), CacheDir: layout.HelmDir(), Log: log, Remove: cfg.Disabled("helm-controller")},
		&manifests.Deployer{Dir: layout.ManifestsDir(), Config: adminConfig, Log: log, Server: manifestsOwner(cfg, useEtcd || cfg.External())},
		&servicelb.Controller{Client: admin, Informers: shared, Log: log, Remove: cfg.Disabled("servicelb")},
	}
	if !cfg.Disabled("local-storage") {
		components = append(components, &localstorage.Controller{Client: admin, Informers: shared, Log: log})
	}
	if !cfg.Disabled("coredns") {
		components = append(components, &nodehosts.Controller{Client: admin, Informers: shared, Log: log, ClusterDomain: cfg.ClusterDomain})
	}
	if !cfg.Disabled("metrics-server") {
		components = append(components, metrics)
	}
	if e, ok := store.(*etcd.Etcd); ok {
		components = append(components,
			&bootstrap.Keeper{Client: e.Client, Secret: serverToken.Password, Log: log,
				Data: func() (bootstrap.Data, error) { return bootstrap.Read(p, layout.AgentTokenFile()) }},
			&snapshots.Controller{Etcd: e.Client, Dir: cfg.SnapshotDir(), Node: config.SnapshotNode(cfg.Agent.NodeName), Schedule: snapshotSchedule(cfg),
				Retention: cfg.EtcdSnapshots.Retention, Compress: cfg.EtcdSnapshots.Compress, Config: adminConfig, Log: log})
	}
	if remover, ok := store.(EtcdMemberRemover); ok {
		components = append(components, &etcdMemberRemoval{Etcd: remover, Informers: shared, Log: log})
	}
	if !cfg.DisableAgent {
		// The server's own node joins like any other: over loopback, with
		// the server token, through the join endpoint.
		nodeAgent := cfg.Agent
		nodeAgent.NodeIP = nodeIP.String()
		components = append(components, &agent.Node{Options: agent.Options{
			DataDir: cfg.DataDir,
			Agent:   nodeAgent,
			Server:  cfg.APIServerURL(),
			Token:   serverToken,
			LBPort:  cfg.HTTPSPort + 1,
			Log:     log,
		}})
		own := &serverNode{Client: admin, NodeName: func() string { return ownNodeName(cfg) }, Log: log}
		if useEtcd {
			own.EtcdNameFile = layout.EtcdNameFile()
		}
		components = append(components, own)
	}
	group := component.Group{
		Log: log,
		OnReady: func() {
			log.Info("kite server is ready", "took", time.Since(started).Round(time.Millisecond),
				"kubeconfig", cfg.WriteKubeconfig, "try", "kite kubectl get nodes")
			onReady()
		},
	}
	return group.Run(ctx, components...)
}

// checkWritable makes sure files can be written in dir: a read-only file
// system must fail here, with a clear message, not halfway through start.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %w; run as root, or pass --data-dir with a folder you can write", dir, unwrapPath(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// addresses returns the node's IP (--node-ip, else the IP of the
// default-route interface) and the one the API server advertises to the
// cluster (--advertise-address, else the node's).
func addresses(cfg config.Server) (node, advertise net.IP, err error) {
	if node, err = agent.NodeIP(cfg.Agent); err != nil {
		return nil, nil, err
	}
	advertise = node
	if cfg.AdvertiseAddress != "" {
		advertise = net.ParseIP(cfg.AdvertiseAddress)
	}
	return node, advertise, nil
}

// listen binds the API server's port now, so a busy port fails the start
// before any file is written.
func listen(cfg config.Server) (net.Listener, error) {
	addr := net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.HTTPSPort))
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("port %d on %s is already in use by another program; stop it, or pass --https-listen-port with a free port", cfg.HTTPSPort, cfg.BindAddress)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w; check --bind-address and --https-listen-port", addr, err)
	}
	return ln, nil
}

func apiServerSANs(cfg config.Server, nodeIP, advertiseIP net.IP) pki.SANs {
	hostname, _ := os.Hostname()
	nodeIPs := []net.IP{nodeIP, advertiseIP}
	if bind := net.ParseIP(cfg.BindAddress); !bind.IsUnspecified() {
		nodeIPs = append(nodeIPs, bind)
	}
	serviceIP, _ := cfg.ServiceAPIServerIP()
	return pki.APIServerSANs(pki.SANInput{
		Hostname:      hostname,
		NodeIPs:       nodeIPs,
		ServiceIP:     serviceIP,
		ClusterDomain: cfg.ClusterDomain,
		Extra:         cfg.TLSSANs,
	})
}

// nodeRules are the join's rules for nodes' names and addresses.
func nodeRules(cfg config.Server, sans pki.SANs) join.NodeRules {
	// Both CIDRs were validated with the flags.
	_, services, _ := net.ParseCIDR(cfg.ServiceCIDR)
	_, pods, _ := net.ParseCIDR(cfg.ClusterCIDR)
	return join.NodeRules{ClusterDomain: cfg.ClusterDomain, ServiceCIDR: services, ClusterCIDR: pods, Server: sans}
}

func writeKubeconfigs(cfg config.Server, p pki.PKI, in flags.Inputs) error {
	layout := cfg.Layout()
	if err := os.MkdirAll(layout.CredDir(), 0o700); err != nil {
		return err
	}
	url := cfg.APIServerURL()
	for path, name := range map[string]string{
		in.SchedulerKubeconfig:         pki.Scheduler,
		in.ControllerManagerKubeconfig: pki.ControllerManager,
		// kite server's own client (join endpoints, tunnel, set-up); the
		// file given with --write-kubeconfig is the user's.
		layout.AdminKubeconfig(): pki.Admin,
	} {
		kc, err := kubeconfig.FromFiles(url, p.Cert(pki.ServerCA), p.Cert(name), p.Key(name))
		if err != nil {
			return err
		}
		if err := kc.Write(path, 0o600); err != nil {
			return err
		}
	}
	admin, err := kubeconfig.FromFiles(url, p.Cert(pki.ServerCA), p.Cert(pki.Admin), p.Key(pki.Admin))
	if err != nil {
		return err
	}
	mode, _ := config.ParseFileMode(cfg.KubeconfigMode)
	if err := admin.Write(cfg.WriteKubeconfig, mode); err != nil {
		return fmt.Errorf("write admin kubeconfig: %w; pass --write-kubeconfig with a path you can write", err)
	}
	return nil
}

// adminClient is the client that polls /readyz: anonymous requests are
// refused, so it presents the admin certificate.
func adminClient(p pki.PKI, caPEM []byte) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(p.Cert(pki.Admin), p.Key(pki.Admin))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return health.Client(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}), nil
}
