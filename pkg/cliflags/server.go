// Package cliflags declares kite's command-line flags and binds them to the
// settings in package config. It links no Kubernetes code, so the flag
// parsing is tested on its own.
package cliflags

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/pkg/configfile"
	"github.com/kite-project/kite/pkg/logging"
)

// Config is the --config flag of `kite server` and `kite agent`. Its value
// is read before the flags are parsed (cmd/kite, package configfile).
func Config() cli.Flag {
	return &cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "config file: flags by long name, key: value (then FILE.d/*.yaml in name order)",
		Value: configfile.DefaultPath, EnvVars: []string{"KITE_CONFIG_FILE"}}
}

// Server returns the flags of `kite server`, bound to cfg.
func Server(cfg *config.Server) []cli.Flag {
	return append([]cli.Flag{
		Config(),
		&cli.StringFlag{Name: "data-dir", Aliases: []string{"d"}, Usage: "folder for all state of the server", Value: cfg.DataDir, Destination: &cfg.DataDir, EnvVars: []string{"KITE_DATA_DIR"}},
		&cli.StringFlag{Name: "bind-address", Usage: "address the API server listens on", Value: cfg.BindAddress, Destination: &cfg.BindAddress},
		&cli.IntFlag{Name: "https-listen-port", Usage: "port the API server listens on", Value: cfg.HTTPSPort, Destination: &cfg.HTTPSPort},
		&cli.StringFlag{Name: "advertise-address", Usage: "IP the API server advertises to the cluster (default: this node's IP)", Destination: &cfg.AdvertiseAddress},
		&cli.StringSliceFlag{Name: "tls-san", Usage: "extra host name or IP for the API server's certificate (repeatable)", Action: into(&cfg.TLSSANs)},
		&cli.StringFlag{Name: "cluster-cidr", Usage: "IP range for pod IPs", Value: cfg.ClusterCIDR, Destination: &cfg.ClusterCIDR},
		&cli.StringFlag{Name: "service-cidr", Usage: "IP range for service IPs", Value: cfg.ServiceCIDR, Destination: &cfg.ServiceCIDR},
		&cli.StringFlag{Name: "cluster-dns", Usage: "IP of the cluster DNS service, inside --service-cidr", Value: cfg.ClusterDNS, Destination: &cfg.ClusterDNS},
		&cli.StringFlag{Name: "cluster-domain", Usage: "cluster domain", Value: cfg.ClusterDomain, Destination: &cfg.ClusterDomain},
		&cli.StringFlag{Name: "token", Aliases: []string{"t"}, Usage: "shared secret nodes join with (default: random, kept in <data-dir>/server/token)", Destination: &cfg.Token, EnvVars: []string{"KITE_TOKEN"}},
		&cli.StringFlag{Name: "agent-token", Usage: "a separate secret that joins agents only (kept in <data-dir>/server/agent-token)", Destination: &cfg.AgentToken, EnvVars: []string{"KITE_AGENT_TOKEN"}},
		&cli.StringFlag{Name: "flannel-backend", Usage: "pod network between nodes: vxlan, host-gw, or none (bring your own CNI)", Value: cfg.FlannelBackend, Destination: &cfg.FlannelBackend},
		&cli.StringFlag{Name: "write-kubeconfig", Aliases: []string{"o"}, Usage: "where to write the admin kubeconfig", Value: cfg.WriteKubeconfig, Destination: &cfg.WriteKubeconfig, EnvVars: []string{"KITE_KUBECONFIG_OUTPUT"}},
		&cli.StringFlag{Name: "write-kubeconfig-mode", Usage: "file mode of the admin kubeconfig, in octal", Value: cfg.KubeconfigMode, Destination: &cfg.KubeconfigMode, EnvVars: []string{"KITE_KUBECONFIG_MODE"}},
		&cli.StringSliceFlag{Name: "kube-apiserver-arg", Usage: "extra kube-apiserver flag, as name=value (repeatable)", Action: into(&cfg.APIServerArgs)},
		&cli.StringSliceFlag{Name: "kube-scheduler-arg", Usage: "extra kube-scheduler flag, as name=value (repeatable)", Action: into(&cfg.SchedulerArgs)},
		&cli.StringSliceFlag{Name: "kube-controller-manager-arg", Usage: "extra kube-controller-manager flag, as name=value (repeatable)", Action: into(&cfg.ControllerManagerArgs)},
		&cli.StringFlag{Name: "server", Aliases: []string{"s"}, Usage: "join the control plane of the cluster whose server is at this URL, https://HOST:6443 (with --token, the server token; the cluster must run etcd)", Destination: &cfg.JoinURL, EnvVars: []string{"KITE_URL"}},
		&cli.BoolFlag{Name: "cluster-init", Usage: "keep the cluster in embedded etcd (in <data-dir>/server/db/etcd) instead of SQLite; later starts use etcd without the flag", Destination: &cfg.ClusterInit, EnvVars: []string{"KITE_CLUSTER_INIT"}},
		&cli.BoolFlag{Name: "cluster-reset", Usage: "make this server's etcd a cluster of one with its data (after the control plane lost its quorum), then stop: start again without the flag", Destination: &cfg.ClusterReset},
		&cli.StringFlag{Name: "cluster-reset-restore-path", Usage: "with --cluster-reset: restore this etcd snapshot (from 'kite etcd-snapshot save', or scheduled) instead, then stop; on a new machine give --token, the cluster's server token", Destination: &cfg.ClusterResetRestorePath},
		&cli.BoolFlag{Name: "etcd-disable-snapshots", Usage: "take no scheduled etcd snapshots", Destination: &cfg.EtcdSnapshots.Disable},
		&cli.StringFlag{Name: "etcd-snapshot-schedule-cron", Usage: "when to take scheduled etcd snapshots, in cron's five fields (or @every DURATION)", Value: cfg.EtcdSnapshots.Schedule, Destination: &cfg.EtcdSnapshots.Schedule},
		&cli.IntFlag{Name: "etcd-snapshot-retention", Usage: "how many scheduled etcd snapshots to keep", Value: cfg.EtcdSnapshots.Retention, Destination: &cfg.EtcdSnapshots.Retention},
		&cli.StringFlag{Name: "etcd-snapshot-dir", Usage: "folder for etcd snapshots (default: <data-dir>/server/db/snapshots)", Destination: &cfg.EtcdSnapshots.Dir},
		&cli.BoolFlag{Name: "etcd-snapshot-compress", Usage: "gzip etcd snapshots", Destination: &cfg.EtcdSnapshots.Compress},
		&cli.StringFlag{Name: "datastore-endpoint", Usage: "keep the cluster in your datastore: postgres://USER:PASSWORD@HOST:5432/DB, mysql://USER:PASSWORD@tcp(HOST:3306)/DB, https://ETCD1:2379,https://ETCD2:2379, or sqlite:///PATH (prefer the env var or the config file: a password on the command line shows in ps)", Destination: &cfg.DatastoreEndpoint, EnvVars: []string{"KITE_DATASTORE_ENDPOINT"}},
		&cli.StringFlag{Name: "datastore-cafile", Usage: "CA certificate the external datastore's serving certificate is checked with", Destination: &cfg.DatastoreTLS.CAFile, EnvVars: []string{"KITE_DATASTORE_CAFILE"}},
		&cli.StringFlag{Name: "datastore-certfile", Usage: "client certificate for the external datastore", Destination: &cfg.DatastoreTLS.CertFile, EnvVars: []string{"KITE_DATASTORE_CERTFILE"}},
		&cli.StringFlag{Name: "datastore-keyfile", Usage: "key of --datastore-certfile", Destination: &cfg.DatastoreTLS.KeyFile, EnvVars: []string{"KITE_DATASTORE_KEYFILE"}},
		&cli.IntFlag{Name: "datastore-max-open-connections", Usage: "most connections this server opens to a PostgreSQL or MySQL datastore (0: no limit); keep servers × this under the database's own limit", Value: cfg.DatastorePool.MaxOpen, Destination: &cfg.DatastorePool.MaxOpen, EnvVars: []string{"KITE_DATASTORE_MAX_OPEN_CONNECTIONS"}},
		&cli.IntFlag{Name: "datastore-max-idle-connections", Usage: "most idle connections this server keeps to a PostgreSQL or MySQL datastore (at most the open ones)", Value: cfg.DatastorePool.MaxIdle, Destination: &cfg.DatastorePool.MaxIdle, EnvVars: []string{"KITE_DATASTORE_MAX_IDLE_CONNECTIONS"}},
		&cli.StringFlag{Name: "datastore-restore", Usage: "restore this backup (from 'kite datastore backup') before starting; the old database is kept beside it", Destination: &cfg.DatastoreRestore},
		&cli.BoolFlag{Name: "disable-agent", Usage: "run only the control plane, no node", Destination: &cfg.DisableAgent},
		&cli.StringSliceFlag{Name: "disable", Usage: "leave out a packaged add-on, and remove it if it was there: " + strings.Join(config.AddOns, ", ") + " (repeatable, or a comma list)", Action: into(&cfg.Disable)},
	}, append(Agent(&cfg.Agent), Logging()...)...)
}

// Agent returns the node flags, shared by `kite server` and `kite agent`.
func Agent(a *config.Agent) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "node-name", Usage: "name of this node (default: the host name)", Destination: &a.NodeName, EnvVars: []string{"KITE_NODE_NAME"}},
		&cli.StringFlag{Name: "node-ip", Usage: "IP of this node (default: IP of the default-route interface)", Destination: &a.NodeIP},
		&cli.StringSliceFlag{Name: "node-label", Usage: "label for the node, key=value (repeatable)", Action: into(&a.NodeLabels)},
		&cli.StringSliceFlag{Name: "node-taint", Usage: "taint for the node, key=value:Effect (repeatable)", Action: into(&a.NodeTaints)},
		&cli.StringSliceFlag{Name: "kubelet-arg", Usage: "extra kubelet flag, as name=value (repeatable)", Action: into(&a.KubeletArgs)},
		&cli.StringSliceFlag{Name: "kube-proxy-arg", Usage: "extra kube-proxy flag, as name=value (repeatable; proxy-mode=nftables selects nftables)", Action: into(&a.KubeProxyArgs)},
		&cli.StringFlag{Name: "flannel-iface", Usage: "interface flannel sends pod traffic over (default: the one with the node's IP)", Destination: &a.FlannelIface},
		&cli.StringFlag{Name: "resolv-conf", Usage: "resolv.conf for pods with dnsPolicy Default, CoreDNS's upstream resolvers (default: /etc/resolv.conf unless its nameservers are all loopback)", Destination: &a.ResolvConf, EnvVars: []string{"KITE_RESOLV_CONF"}},
		&cli.BoolFlag{Name: "with-node-id", Usage: "append a stable random suffix to the node name, so hosts with one name can all join", Destination: &a.WithNodeID},
	}
}

// into stores a repeatable flag's values in dst once parsed.
func into(dst *[]string) func(*cli.Context, []string) error {
	return func(_ *cli.Context, v []string) error {
		*dst = v
		return nil
	}
}

// AgentCommand returns the flags of `kite agent`, bound to a.
func AgentCommand(a *config.AgentCommand) []cli.Flag {
	return append([]cli.Flag{
		Config(),
		&cli.StringFlag{Name: "server", Aliases: []string{"s"}, Usage: "URL of the server to join, https://HOST:6443", Destination: &a.Server, EnvVars: []string{"KITE_URL"}},
		&cli.StringFlag{Name: "token", Aliases: []string{"t"}, Usage: "join token: the server's <data-dir>/server/token, its agent-token, or one from 'kite token create'", Destination: &a.Token, EnvVars: []string{"KITE_TOKEN"}},
		&cli.StringFlag{Name: "token-file", Usage: "file holding the join token", Destination: &a.TokenFile, EnvVars: []string{"KITE_TOKEN_FILE"}},
		&cli.StringFlag{Name: "data-dir", Aliases: []string{"d"}, Usage: "folder for all state of the node", Value: a.DataDir, Destination: &a.DataDir, EnvVars: []string{"KITE_DATA_DIR"}},
		&cli.IntFlag{Name: "lb-server-port", Usage: "local port of the node's load balancer in front of the API servers", Value: a.LBServerPort, Destination: &a.LBServerPort},
	}, append(Agent(&a.Agent), Logging()...)...)
}

// Logging returns the log flags of `kite server` and `kite agent`; read
// them with LogOptions.
func Logging() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-format", Usage: "format of every log line: " + strings.Join(logging.Formats, " or "), Value: "text", EnvVars: []string{logging.EnvFormat}},
		&cli.StringFlag{Name: "log-level", Usage: "lowest level logged: " + strings.Join(logging.Levels, ", "), Value: "info", EnvVars: []string{logging.EnvLevel}},
		&cli.IntFlag{Name: "v", Usage: "verbosity of the Kubernetes components' (klog's) lines"},
		&cli.StringFlag{Name: "vmodule", Usage: "klog verbosity by source file, pattern=N,... (e.g. reflector=4)"},
	}
}

// LogOptions are the log flags' values.
func LogOptions(c *cli.Context) logging.Options {
	return logging.Options{Format: c.String("log-format"), Level: c.String("log-level"), V: c.Int("v"), VModule: c.String("vmodule")}
}
