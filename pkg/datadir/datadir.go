// Package datadir is the map of kite's data dir: every path kite reads or
// writes under it (the server's and the node's), and the few paths outside
// it whose place depends on it (the node password of the default data dir).
// Every package that touches a file there gets its path from a Layout, so
// this file is the one place to read to find all of kite's on-disk state.
//
// It only computes paths: no I/O, no imports beyond the standard library,
// so that small unit-tested packages can use it.
package datadir

import "path/filepath"

// Default is the data dir unless --data-dir (or $KITE_DATA_DIR) says
// otherwise.
const Default = "/var/lib/kite"

// DefaultNodePasswordFile keeps the node password of the default data dir
// outside it, so that a node that wipes /var/lib/kite keeps its name.
const DefaultNodePasswordFile = "/etc/kite/node/password"

// Layout is the data dir rooted at Root (an absolute path once the flags
// are validated).
type Layout struct {
	Root string
}

// New returns the layout of the data dir root.
func New(root string) Layout { return Layout{Root: root} }

func (l Layout) join(elem ...string) string {
	return filepath.Join(append([]string{l.Root}, elem...)...)
}

// Sockets are the unix sockets kite listens on under the data dir: their
// paths must fit the kernel's limit (107 bytes).
func (l Layout) Sockets() []string { return []string{l.KineSocket(), l.ContainerdSocket()} }

// The server: <data-dir>/server.

// ServerDir holds the control plane's state.
func (l Layout) ServerDir() string { return l.join("server") }

// DBDir holds the datastore (kine on SQLite, or embedded etcd).
func (l Layout) DBDir() string { return l.join("server", "db") }

// DBFile is kine's SQLite database; SQLite keeps -wal and -shm beside it, a
// restore puts the old one aside as state.db.old-<time> and marks the
// backup it restored in state.db.restored (datastore/sqlite).
func (l Layout) DBFile() string { return l.join("server", "db", "state.db") }

// EtcdDir is embedded etcd's data dir (kite server --cluster-init): its
// member/ folder (WAL and bbolt database) and the name file. A server that
// has one uses etcd, not SQLite.
func (l Layout) EtcdDir() string { return l.join("server", "db", "etcd") }

// EtcdMemberDir is the folder etcd makes in EtcdDir on its first start.
func (l Layout) EtcdMemberDir() string { return l.join("server", "db", "etcd", "member") }

// EtcdNameFile keeps this server's etcd member name, chosen once.
func (l Layout) EtcdNameFile() string { return l.join("server", "db", "etcd", "name") }

// SnapshotsDir holds embedded etcd's snapshots (kite etcd-snapshot, and
// the scheduled ones), unless --etcd-snapshot-dir names another folder.
func (l Layout) SnapshotsDir() string { return l.join("server", "db", "snapshots") }

// KineSocket is kine's etcd API, for the API server (0600).
func (l Layout) KineSocket() string { return l.join("server", "kine.sock") }

// ServerTLSDir holds the server's PKI (server/pki names the files:
// <name>.crt, <name>.key, service-account.key).
func (l Layout) ServerTLSDir() string { return l.join("server", "tls") }

// APIServerCertDir is kube-apiserver's --cert-dir (unused while kite gives
// it its serving certificate, but the flag needs a folder).
func (l Layout) APIServerCertDir() string { return l.join("server", "tls", "temporary-certs") }

// MetricsServerCertDir holds metrics-server's self-signed serving
// certificate.
func (l Layout) MetricsServerCertDir() string { return l.join("server", "tls", "metrics-server") }

// CredDir holds the kubeconfigs of the control plane's own clients.
func (l Layout) CredDir() string { return l.join("server", "cred") }

// AdminKubeconfig is the server's own administrator kubeconfig, for kite's
// in-process controllers (not --write-kubeconfig, the user's copy).
func (l Layout) AdminKubeconfig() string { return l.join("server", "cred", "admin.kubeconfig") }

// SchedulerKubeconfig is kube-scheduler's kubeconfig.
func (l Layout) SchedulerKubeconfig() string {
	return l.join("server", "cred", "scheduler.kubeconfig")
}

// ControllerManagerKubeconfig is kube-controller-manager's kubeconfig.
func (l Layout) ControllerManagerKubeconfig() string {
	return l.join("server", "cred", "controller-manager.kubeconfig")
}

// ManifestsDir holds manifests applied to the cluster (and kept applied),
// the packaged add-ons' among them.
func (l Layout) ManifestsDir() string { return l.join("server", "manifests") }

// HelmDir is the Helm controller's cache (Helm's repository and discovery
// caches).
func (l Layout) HelmDir() string { return l.join("server", "helm") }

// TokenFile holds the cluster join token (0600).
func (l Layout) TokenFile() string { return l.join("server", "token") }

// AgentTokenFile holds the agent token (--agent-token), if there is one
// (0600).
func (l Layout) AgentTokenFile() string { return l.join("server", "agent-token") }

// The node: <data-dir>/agent.

// AgentDir holds the node's state.
func (l Layout) AgentDir() string { return l.join("agent") }

// AgentTLSDir holds the node's keys (0600) and certificates, signed by the
// server at each join, and the server's CA certificates.
func (l Layout) AgentTLSDir() string { return l.join("agent", "tls") }

// AgentCert and AgentKey are a node certificate (by its name in the join
// API) and its key.
func (l Layout) AgentCert(name string) string { return l.join("agent", "tls", name+".crt") }
func (l Layout) AgentKey(name string) string  { return l.join("agent", "tls", name+".key") }

// AgentServerCA is the server CA's certificate as the node keeps it: it
// checks the API servers against it.
func (l Layout) AgentServerCA() string { return l.join("agent", "tls", "server-ca.crt") }

// AgentClientCA is the client CA's certificate: the kubelet authenticates
// the API server's calls with it.
func (l Layout) AgentClientCA() string { return l.join("agent", "tls", "client-ca.crt") }

// KubeletDir is the kubelet's --root-dir.
func (l Layout) KubeletDir() string { return l.join("agent", "kubelet") }

// KubeletCertDir is the kubelet's --cert-dir.
func (l Layout) KubeletCertDir() string { return l.join("agent", "kubelet", "pki") }

// KubeletVolumePluginDir is the kubelet's volumePluginDir.
func (l Layout) KubeletVolumePluginDir() string {
	return l.join("agent", "kubelet", "volume-plugins")
}

// EtcDir holds the configuration kite writes for the node's components.
func (l Layout) EtcDir() string { return l.join("agent", "etc") }

// KubeletConfig is the kubelet's configuration file.
func (l Layout) KubeletConfig() string { return l.join("agent", "etc", "kubelet.yaml") }

// KubeletKubeconfig is the kubelet's kubeconfig (also used by kite's own
// node-side clients).
func (l Layout) KubeletKubeconfig() string { return l.join("agent", "etc", "kubelet.kubeconfig") }

// KubeProxyKubeconfig is kube-proxy's kubeconfig.
func (l Layout) KubeProxyKubeconfig() string {
	return l.join("agent", "etc", "kube-proxy.kubeconfig")
}

// CrictlConfig is crictl's configuration (kite crictl).
func (l Layout) CrictlConfig() string { return l.join("agent", "etc", "crictl.yaml") }

// ResolvConf is the resolv.conf kite writes for pods when the host has no
// usable one (pkg/resolvconf).
func (l Layout) ResolvConf() string { return l.join("agent", "etc", "resolv.conf") }

// CNIConfDir holds the CNI configuration: kite's (CNIConfFile), or your own
// CNI's with --flannel-backend none.
func (l Layout) CNIConfDir() string { return l.join("agent", "etc", "cni", "net.d") }

// CNIConfFile is kite's network configuration (agent/cni).
func (l Layout) CNIConfFile() string {
	return l.join("agent", "etc", "cni", "net.d", "10-kite.conflist")
}

// FlannelDir holds flannel's files.
func (l Layout) FlannelDir() string { return l.join("agent", "etc", "flannel") }

// FlannelNetConf is flannel's network configuration, written at start.
func (l Layout) FlannelNetConf() string { return l.join("agent", "etc", "flannel", "net-conf.json") }

// FlannelSubnetEnv is flannel's lease of the node's subnet (kept to clean
// up after a subnet that changed).
func (l Layout) FlannelSubnetEnv() string { return l.join("agent", "etc", "flannel", "subnet.env") }

// IPAMDir holds the addresses given to pods (host-local IPAM).
func (l Layout) IPAMDir() string { return l.join("agent", "cni", "ipam") }

// ContainerdDir holds everything containerd owns.
func (l Layout) ContainerdDir() string { return l.join("agent", "containerd") }

// ContainerdConfig is containerd's config.toml, written at every start.
func (l Layout) ContainerdConfig() string { return l.join("agent", "containerd", "config.toml") }

// ContainerdSocket is containerd's gRPC socket (CRI, ctr, crictl).
func (l Layout) ContainerdSocket() string {
	return l.join("agent", "containerd", "containerd.sock")
}

// ContainerdRoot and ContainerdState are containerd's root and state
// folders.
func (l Layout) ContainerdRoot() string  { return l.join("agent", "containerd", "root") }
func (l Layout) ContainerdState() string { return l.join("agent", "containerd", "state") }

// RuncRoot is runc's state, which containerd's shim gives it.
func (l Layout) RuncRoot() string { return l.join("agent", "containerd", "state", "runc") }

// ContainerdLog is containerd's own log.
func (l Layout) ContainerdLog() string { return l.join("agent", "containerd", "containerd.log") }

// ImagesDir holds airgap image tarballs, imported at start.
func (l Layout) ImagesDir() string { return l.join("agent", "images") }

// ImagesRecord lists what was imported, so that unchanged tarballs are
// skipped.
func (l Layout) ImagesRecord() string { return l.join("agent", "images", ".kite-imported.json") }

// PodLogsDir holds containers' logs (the kubelet's podLogsDir).
func (l Layout) PodLogsDir() string { return l.join("agent", "logs", "pods") }

// NodePasswordFile keeps the node password: outside the data dir
// (DefaultNodePasswordFile) for the default data dir, else in it.
func (l Layout) NodePasswordFile() string {
	if l.Root == Default {
		return DefaultNodePasswordFile
	}
	return l.join("agent", "node-password")
}

// NodeIDFile keeps the suffix --with-node-id appends to the node name,
// beside the node password.
func (l Layout) NodeIDFile() string {
	return filepath.Join(filepath.Dir(l.NodePasswordFile()), "node-id")
}

// StorageDir holds the node's local-path volumes.
func (l Layout) StorageDir() string { return l.join("storage") }

// BundlesDir holds the unpacked bundles of kite's builds.
func (l Layout) BundlesDir() string { return l.join("data") }

// BundleDir is the bundle of the build whose content hash is hash: runc,
// containerd's runc shim, the CNI plugins and crictl in bin/, the system
// images' tarballs, and a .complete marker (agent/bundle).
func (l Layout) BundleDir(hash string) string { return l.join("data", hash) }
