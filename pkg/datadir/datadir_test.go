package datadir

import (
	"path/filepath"
	"strings"
	"testing"
)

// paths is every path of a layout, by method name. A new method must be
// added here (and to want below).
func paths(l Layout) map[string]string {
	return map[string]string{
		"ServerDir":                   l.ServerDir(),
		"DBDir":                       l.DBDir(),
		"DBFile":                      l.DBFile(),
		"KineSocket":                  l.KineSocket(),
		"EtcdDir":                     l.EtcdDir(),
		"EtcdMemberDir":               l.EtcdMemberDir(),
		"EtcdNameFile":                l.EtcdNameFile(),
		"SnapshotsDir":                l.SnapshotsDir(),
		"ServerTLSDir":                l.ServerTLSDir(),
		"APIServerCertDir":            l.APIServerCertDir(),
		"MetricsServerCertDir":        l.MetricsServerCertDir(),
		"CredDir":                     l.CredDir(),
		"AdminKubeconfig":             l.AdminKubeconfig(),
		"SchedulerKubeconfig":         l.SchedulerKubeconfig(),
		"ControllerManagerKubeconfig": l.ControllerManagerKubeconfig(),
		"ManifestsDir":                l.ManifestsDir(),
		"HelmDir":                     l.HelmDir(),
		"TokenFile":                   l.TokenFile(),
		"AgentTokenFile":              l.AgentTokenFile(),
		"AgentDir":                    l.AgentDir(),
		"AgentTLSDir":                 l.AgentTLSDir(),
		"AgentCert(kubelet-client)":   l.AgentCert("kubelet-client"),
		"AgentKey(kubelet-client)":    l.AgentKey("kubelet-client"),
		"AgentServerCA":               l.AgentServerCA(),
		"AgentClientCA":               l.AgentClientCA(),
		"KubeletDir":                  l.KubeletDir(),
		"KubeletCertDir":              l.KubeletCertDir(),
		"KubeletVolumePluginDir":      l.KubeletVolumePluginDir(),
		"EtcDir":                      l.EtcDir(),
		"KubeletConfig":               l.KubeletConfig(),
		"KubeletKubeconfig":           l.KubeletKubeconfig(),
		"KubeProxyKubeconfig":         l.KubeProxyKubeconfig(),
		"CrictlConfig":                l.CrictlConfig(),
		"ResolvConf":                  l.ResolvConf(),
		"CNIConfDir":                  l.CNIConfDir(),
		"CNIConfFile":                 l.CNIConfFile(),
		"FlannelDir":                  l.FlannelDir(),
		"FlannelNetConf":              l.FlannelNetConf(),
		"FlannelSubnetEnv":            l.FlannelSubnetEnv(),
		"IPAMDir":                     l.IPAMDir(),
		"ContainerdDir":               l.ContainerdDir(),
		"ContainerdConfig":            l.ContainerdConfig(),
		"ContainerdSocket":            l.ContainerdSocket(),
		"ContainerdRoot":              l.ContainerdRoot(),
		"ContainerdState":             l.ContainerdState(),
		"RuncRoot":                    l.RuncRoot(),
		"ContainerdLog":               l.ContainerdLog(),
		"ImagesDir":                   l.ImagesDir(),
		"ImagesRecord":                l.ImagesRecord(),
		"PodLogsDir":                  l.PodLogsDir(),
		"NodePasswordFile":            l.NodePasswordFile(),
		"NodeIDFile":                  l.NodeIDFile(),
		"StorageDir":                  l.StorageDir(),
		"BundlesDir":                  l.BundlesDir(),
		"BundleDir(abc)":              l.BundleDir("abc"),
	}
}

// want is where each path is today, relative to the data dir (README, "Data
// dir"). Existing data dirs depend on these: change one only with a
// migration.
var want = map[string]string{
	"ServerDir":                   "server",
	"DBDir":                       "server/db",
	"DBFile":                      "server/db/state.db",
	"KineSocket":                  "server/kine.sock",
	"EtcdDir":                     "server/db/etcd",
	"EtcdMemberDir":               "server/db/etcd/member",
	"EtcdNameFile":                "server/db/etcd/name",
	"SnapshotsDir":                "server/db/snapshots",
	"ServerTLSDir":                "server/tls",
	"APIServerCertDir":            "server/tls/temporary-certs",
	"MetricsServerCertDir":        "server/tls/metrics-server",
	"CredDir":                     "server/cred",
	"AdminKubeconfig":             "server/cred/admin.kubeconfig",
	"SchedulerKubeconfig":         "server/cred/scheduler.kubeconfig",
	"ControllerManagerKubeconfig": "server/cred/controller-manager.kubeconfig",
	"ManifestsDir":                "server/manifests",
	"HelmDir":                     "server/helm",
	"TokenFile":                   "server/token",
	"AgentTokenFile":              "server/agent-token",
	"AgentDir":                    "agent",
	"AgentTLSDir":                 "agent/tls",
	"AgentCert(kubelet-client)":   "agent/tls/kubelet-client.crt",
	"AgentKey(kubelet-client)":    "agent/tls/kubelet-client.key",
	"AgentServerCA":               "agent/tls/server-ca.crt",
	"AgentClientCA":               "agent/tls/client-ca.crt",
	"KubeletDir":                  "agent/kubelet",
	"KubeletCertDir":              "agent/kubelet/pki",
	"KubeletVolumePluginDir":      "agent/kubelet/volume-plugins",
	"EtcDir":                      "agent/etc",
	"KubeletConfig":               "agent/etc/kubelet.yaml",
	"KubeletKubeconfig":           "agent/etc/kubelet.kubeconfig",
	"KubeProxyKubeconfig":         "agent/etc/kube-proxy.kubeconfig",
	"CrictlConfig":                "agent/etc/crictl.yaml",
	"ResolvConf":                  "agent/etc/resolv.conf",
	"CNIConfDir":                  "agent/etc/cni/net.d",
	"CNIConfFile":                 "agent/etc/cni/net.d/10-kite.conflist",
	"FlannelDir":                  "agent/etc/flannel",
	"FlannelNetConf":              "agent/etc/flannel/net-conf.json",
	"FlannelSubnetEnv":            "agent/etc/flannel/subnet.env",
	"IPAMDir":                     "agent/cni/ipam",
	"ContainerdDir":               "agent/containerd",
	"ContainerdConfig":            "agent/containerd/config.toml",
	"ContainerdSocket":            "agent/containerd/containerd.sock",
	"ContainerdRoot":              "agent/containerd/root",
	"ContainerdState":             "agent/containerd/state",
	"RuncRoot":                    "agent/containerd/state/runc",
	"ContainerdLog":               "agent/containerd/containerd.log",
	"ImagesDir":                   "agent/images",
	"ImagesRecord":                "agent/images/.kite-imported.json",
	"PodLogsDir":                  "agent/logs/pods",
	"NodePasswordFile":            "agent/node-password",
	"NodeIDFile":                  "agent/node-id",
	"StorageDir":                  "storage",
	"BundlesDir":                  "data",
	"BundleDir(abc)":              "data/abc",
}

func TestLayout(t *testing.T) {
	root := t.TempDir()
	got := paths(New(root))
	if len(got) != len(want) {
		t.Errorf("%d paths, want %d: keep paths and want in step", len(got), len(want))
	}
	seen := map[string]string{}
	for name, path := range got {
		rel, ok := want[name]
		if !ok {
			t.Errorf("%s: no expected path", name)
			continue
		}
		if w := filepath.Join(root, filepath.FromSlash(rel)); path != w {
			t.Errorf("%s = %s, want %s", name, path, w)
		}
		if !strings.HasPrefix(path, root+string(filepath.Separator)) {
			t.Errorf("%s = %s is not under the data dir %s", name, path, root)
		}
		if other, dup := seen[path]; dup {
			t.Errorf("%s and %s are both %s", name, other, path)
		}
		seen[path] = name
	}
}

func TestDefaultDataDir(t *testing.T) {
	l := New(Default)
	// The default data dir keeps the node's identity outside it.
	if got := l.NodePasswordFile(); got != "/etc/kite/node/password" {
		t.Errorf("NodePasswordFile = %s", got)
	}
	if got := l.NodeIDFile(); got != "/etc/kite/node/node-id" {
		t.Errorf("NodeIDFile = %s", got)
	}
	// Everything else stays under it.
	for name, path := range paths(l) {
		if name == "NodePasswordFile" || name == "NodeIDFile" {
			continue
		}
		if !strings.HasPrefix(path, Default+"/") {
			t.Errorf("%s = %s is not under %s", name, path, Default)
		}
	}
	if got := l.ContainerdSocket(); got != "/var/lib/kite/agent/containerd/containerd.sock" {
		t.Errorf("ContainerdSocket = %s", got)
	}
}

func TestSockets(t *testing.T) {
	l := New("/d")
	s := l.Sockets()
	if len(s) != 2 || s[0] != "/d/server/kine.sock" || s[1] != "/d/agent/containerd/containerd.sock" {
		t.Errorf("Sockets = %v", s)
	}
}
