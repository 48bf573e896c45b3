// Package agent sets up the node: its programs, credentials and
// configuration, and the components that run it, in order: containerd, the
// image import, the pod network, the kubelet and kube-proxy.
package agent

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/kite-project/kite/agent/bundle"
	"github.com/kite-project/kite/agent/containerd"
	"github.com/kite-project/kite/agent/flags"
	"github.com/kite-project/kite/agent/hostinfo"
	"github.com/kite-project/kite/agent/images"
	"github.com/kite-project/kite/agent/kubelet"
	"github.com/kite-project/kite/agent/kubeproxy"
	"github.com/kite-project/kite/agent/podnetwork"
	"github.com/kite-project/kite/pkg/component"
	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/pkg/kubeconfig"
	"github.com/kite-project/kite/server/pki"
)

// Options are the node's settings plus what the server decided.
type Options struct {
	DataDir       string
	Agent         config.Agent // validated
	NodeIP        net.IP
	APIServerURL  string
	ClusterDNS    string
	ClusterDomain string
	ClusterCIDR   string
	// ServerPKI issues the node's certificates: the agent of `kite
	// server` shares the server's process and data dir.
	ServerPKI pki.PKI
	Log       *slog.Logger
}

// Components prepares the node's files and returns its components.
func Components(o Options) ([]component.Component, error) {
	l := flags.Layout{Dir: config.AgentDir(o.DataDir)}
	host := hostinfo.Detect(hostinfo.DefaultPaths)
	o.Log.Info("host detected", "cgroupV2", host.CgroupV2, "systemd", host.Systemd,
		"cgroupDriver", host.CgroupDriver(), "canLowerOOMScoreAdj", host.CanLowerOOMScoreAdj)

	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	programs, restored, err := bundle.Unpack(o.DataDir, exe)
	if err != nil {
		return nil, err
	}
	for _, path := range restored {
		o.Log.Warn("a node program was missing or not executable; restored it from kite", "program", path)
	}
	name := o.Agent.NodeName
	if err := o.ServerPKI.EnsureNodeCerts(l.TLSDir(), name, []net.IP{o.NodeIP}, time.Now()); err != nil {
		return nil, fmt.Errorf("node certificates: %w", err)
	}
	nodePKI := pki.PKI{Dir: l.TLSDir()}
	for path, cert := range map[string]string{
		l.KubeletKubeconfig():   pki.KubeletClient,
		l.KubeProxyKubeconfig(): pki.KubeProxy,
	} {
		kc, err := kubeconfig.FromFiles(o.APIServerURL, o.ServerPKI.Cert(pki.ServerCA), nodePKI.Cert(cert), nodePKI.Key(cert))
		if err != nil {
			return nil, err
		}
		if err := kc.Write(path, 0o600); err != nil {
			return nil, err
		}
	}

	ctrd := containerd.Config{
		Dir:                 l.ContainerdDir(),
		BinDir:              programs.Bin(),
		CNIConfDir:          l.CNIConfDir(),
		SandboxImage:        bundle.PauseImageName,
		SystemdCgroup:       host.CgroupDriver() == "systemd",
		RestrictOOMScoreAdj: !host.CanLowerOOMScoreAdj,
	}
	node := flags.Node{
		Agent:          o.Agent,
		NodeIP:         o.NodeIP.String(),
		ClusterDNS:     o.ClusterDNS,
		ClusterDomain:  o.ClusterDomain,
		ClusterCIDR:    o.ClusterCIDR,
		CgroupDriver:   host.CgroupDriver(),
		CgroupV2:       host.CgroupV2,
		ClientCAFile:   o.ServerPKI.Cert(pki.ClientCA),
		ServingCert:    nodePKI.Cert(pki.KubeletServing),
		ServingKey:     nodePKI.Key(pki.KubeletServing),
		ContainerdSock: ctrd.Socket(),
	}
	kubeletConfig, err := flags.KubeletConfig(l, node)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(l.KubeletConfig(), kubeletConfig, 0o600); err != nil {
		return nil, err
	}
	crictl := fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\n", ctrd.Socket(), ctrd.Socket())
	if err := os.WriteFile(l.CrictlConfig(), []byte(crictl), 0o644); err != nil {
		return nil, err
	}

	proxyArgs := flags.KubeProxyArgs(l, node)
	return []component.Component{
		&containerd.Containerd{Config: ctrd, Exe: exe},
		&images.Importer{Socket: ctrd.Socket(), Tarballs: []string{programs.PauseImage()}, Dir: l.ImagesDir(), Log: o.Log},
		&podnetwork.PodNetwork{Kubeconfig: l.KubeletKubeconfig(), NodeName: name, ConfDir: l.CNIConfDir(), IPAMDir: l.IPAMDir(), Log: o.Log},
		&kubelet.Kubelet{ConfigFile: l.KubeletConfig(), Args: flags.KubeletArgs(l, node), Kubeconfig: l.KubeletKubeconfig(), NodeName: name, Log: o.Log},
		&kubeproxy.KubeProxy{Args: proxyArgs, HealthzAddr: flags.FlagValue(proxyArgs, "healthz-bind-address")},
	}, nil
}
