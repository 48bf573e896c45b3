// Package agent runs a node: it joins a server (agent/join), then starts the
// node's components in order: the load balancer in front of the API
// servers, the tunnel to the server, containerd, the image import, flannel,
// the kubelet and kube-proxy. `kite agent` runs it on its own; `kite
// server` runs it as one more component (Node), joining its own server
// over loopback with its token, exactly as a remote node would.
package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"

	"github.com/kite-project/kite/agent/bundle"
	"github.com/kite-project/kite/agent/containerd"
	"github.com/kite-project/kite/agent/flags"
	"github.com/kite-project/kite/agent/flannel"
	"github.com/kite-project/kite/agent/hostinfo"
	"github.com/kite-project/kite/agent/images"
	"github.com/kite-project/kite/agent/join"
	"github.com/kite-project/kite/agent/kubelet"
	"github.com/kite-project/kite/agent/kubeproxy"
	"github.com/kite-project/kite/agent/loadbalancer"
	"github.com/kite-project/kite/agent/localstorage"
	"github.com/kite-project/kite/agent/tunnel"
	"github.com/kite-project/kite/pkg/component"
	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/pkg/datadir"
	"github.com/kite-project/kite/pkg/kubeconfig"
	"github.com/kite-project/kite/pkg/lock"
	"github.com/kite-project/kite/pkg/ports"
	"github.com/kite-project/kite/pkg/resolvconf"
	"github.com/kite-project/kite/pkg/token"
)

// Options are what the node is told.
type Options struct {
	DataDir string
	Agent   config.Agent // validated
	Server  string       // https://HOST:PORT of a server
	Token   token.Token
	// LBPort is the local port of the load balancer in front of the API
	// servers (127.0.0.1).
	LBPort int
	// Embedded is set when kite server runs the node: the server holds the
	// data dir's lock.
	Embedded bool
	Log      *slog.Logger
	// OnReady is called once the node is Ready.
	OnReady func()
}

// Run joins the server and runs the node until ctx ends. A join the
// server refuses is returned at once (nothing written); a server that
// cannot be reached is retried.
func Run(ctx context.Context, o Options) error {
	nodeIP, err := NodeIP(o.Agent)
	if err != nil {
		return err
	}
	l := datadir.New(o.DataDir)
	name := o.Agent.NodeName
	nodeID, newID := "", false
	if o.Agent.WithNodeID {
		if nodeID, newID, err = join.NodeID(l.NodeIDFile()); err != nil {
			return err
		}
		name += "-" + nodeID
	}
	passwordFile := l.NodePasswordFile()
	password, newPassword, err := join.Password(passwordFile)
	if err != nil {
		return err
	}
	lbAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(o.LBPort))
	// Checked before the join writes anything.
	if err := ports.Free(ports.Port{Addr: lbAddr, What: "the node's API server load balancer (--lb-server-port)"}); err != nil {
		return err
	}
	o.Log.Info("joining the server", "server", o.Server, "node", name, "nodeIP", nodeIP)
	joined, err := join.Join(ctx, join.Request{
		Server: o.Server, Token: o.Token, NodeName: name, NodeIPs: []net.IP{nodeIP},
		Files: l, Password: password, Log: o.Log,
	})
	if ctx.Err() != nil {
		return nil // stopped while waiting for the server
	}
	if err != nil {
		return err
	}

	// The server said yes: from here on the node's files are written.
	if !o.Embedded {
		lk, err := lock.DataDir(o.DataDir, "")
		if err != nil {
			return err
		}
		defer lk.Release()
	}
	if err := joined.Write(); err != nil {
		return err
	}
	if newPassword {
		if err := join.WriteSecret(passwordFile, password); err != nil {
			return err
		}
	}
	if newID {
		if err := join.WriteSecret(l.NodeIDFile(), nodeID); err != nil {
			return err
		}
	}
	o.Agent.NodeName = name
	comps, err := components(o, l, lbAddr, nodeIP, joined)
	if err != nil {
		return err
	}
	group := component.Group{Log: o.Log, OnReady: func() {
		o.Log.Info("node is Ready", "node", name, "server", o.Server)
		if o.OnReady != nil {
			o.OnReady()
		}
	}}
	return group.Run(ctx, comps...)
}

// NodeIP is --node-ip, else the IP of the default-route interface (for
// the server too: its node's IP is its default advertise address).
func NodeIP(a config.Agent) (net.IP, error) {
	if a.NodeIP != "" {
		return net.ParseIP(a.NodeIP), nil
	}
	ip, err := utilnet.ChooseHostInterface()
	if err != nil {
		return nil, fmt.Errorf("cannot find this node's IP address (%v); pass --node-ip with an IP of this host", err)
	}
	return ip, nil
}

// components prepares the node's files and returns its components.
func components(o Options, l datadir.Layout, lbAddr string, nodeIP net.IP, joined *join.Joined) ([]component.Component, error) {
	cluster := joined.Response.Config
	host := hostinfo.Detect(hostinfo.DefaultPaths)
	o.Log.Info("host detected", "cgroupV2", host.CgroupV2, "systemd", host.Systemd,
		"cgroupDriver", host.CgroupDriver(), "canLowerOOMScoreAdj", host.CanLowerOOMScoreAdj)

	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	programs, restored, err := bundle.Unpack(l)
	if err != nil {
		return nil, err
	}
	for _, path := range restored {
		o.Log.Warn("a node program was missing or not executable; restored it from kite", "program", path)
	}

	// The node's clients reach the API servers through the load balancer.
	apiURL := "https://" + lbAddr
	for path, cert := range map[string]string{
		l.KubeletKubeconfig():   join.KubeletClientName,
		l.KubeProxyKubeconfig(): join.KubeProxyName,
	} {
		kc, err := kubeconfig.FromFiles(apiURL, l.AgentServerCA(), l.AgentCert(cert), l.AgentKey(cert))
		if err != nil {
			return nil, err
		}
		if err := kc.Write(path, 0o600); err != nil {
			return nil, err
		}
	}

	ctrd := containerd.Config{
		Dir:                 l.ContainerdDir(),
		ConfigFile:          l.ContainerdConfig(),
		Socket:              l.ContainerdSocket(),
		Root:                l.ContainerdRoot(),
		State:               l.ContainerdState(),
		LogFile:             l.ContainerdLog(),
		RuncRoot:            l.RuncRoot(),
		BinDir:              programs.Bin(),
		CNIConfDir:          l.CNIConfDir(),
		SandboxImage:        bundle.PauseImageName,
		SystemdCgroup:       host.CgroupDriver() == "systemd",
		RestrictOOMScoreAdj: !host.CanLowerOOMScoreAdj,
	}
	resolv, err := resolvconf.Choose(o.Agent.ResolvConf, resolvconf.Candidates, l.ResolvConf())
	if err != nil {
		return nil, err
	}
	node := flags.Node{
		Agent:          o.Agent,
		NodeIP:         nodeIP.String(),
		ClusterDNS:     cluster.ClusterDNS,
		ClusterDomain:  cluster.ClusterDomain,
		ClusterCIDR:    cluster.ClusterCIDR,
		CgroupDriver:   host.CgroupDriver(),
		CgroupV2:       host.CgroupV2,
		ClientCAFile:   l.AgentClientCA(),
		ServingCert:    l.AgentCert(join.KubeletServingName),
		ServingKey:     l.AgentKey(join.KubeletServingName),
		ContainerdSock: ctrd.Socket,
		ResolvConf:     resolv,
	}
	kubeletConfig, err := flags.KubeletConfig(l, node)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(l.KubeletConfig(), kubeletConfig, 0o600); err != nil {
		return nil, err
	}
	crictl := fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\n", ctrd.Socket, ctrd.Socket)
	if err := os.WriteFile(l.CrictlConfig(), []byte(crictl), 0o644); err != nil {
		return nil, err
	}
	kubeletArgs := flags.KubeletArgs(l, node)
	kubeletPort := 10250
	if p, err := strconv.Atoi(flags.FlagValue(kubeletArgs, "port")); err == nil {
		kubeletPort = p
	}

	serverHost, err := hostPort(o.Server)
	if err != nil {
		return nil, err
	}
	// The --server first; then the API servers the server named.
	lb := loadbalancer.New(lbAddr, append([]string{serverHost}, cluster.Servers...), o.Log)
	comps := []component.Component{
		lb,
		&tunnel.Tunnel{
			Servers:  lb.Servers,
			ServerCA: l.AgentServerCA(),
			Cert:     l.AgentCert(join.KubeletClientName), Key: l.AgentKey(join.KubeletClientName),
			KubeletPort: kubeletPort,
			Log:         o.Log,
		},
		&containerd.Containerd{Config: ctrd, Exe: exe},
		&images.Importer{Socket: ctrd.Socket, Tarballs: programs.Images(), Dir: l.ImagesDir(), Record: l.ImagesRecord(), Log: o.Log},
	}
	if cluster.FlannelBackend != flannel.None {
		comps = append(comps, &flannel.Flannel{
			Kubeconfig: l.KubeletKubeconfig(), NodeName: o.Agent.NodeName, NodeIP: nodeIP,
			Iface: o.Agent.FlannelIface, Backend: cluster.FlannelBackend, ClusterCIDR: cluster.ClusterCIDR,
			NetConfFile: l.FlannelNetConf(), SubnetFile: l.FlannelSubnetEnv(), CNIConfFile: l.CNIConfFile(), IPAMDir: l.IPAMDir(), Log: o.Log,
		})
	} else {
		o.Log.Info("flannel is off (--flannel-backend none): the node is Ready once your CNI plugin writes its configuration", "dir", l.CNIConfDir())
	}
	proxyArgs := flags.KubeProxyArgs(l, node)
	proxy := &kubeproxy.KubeProxy{Args: proxyArgs, HealthzAddr: flags.FlagValue(proxyArgs, "healthz-bind-address")}
	comps = append(comps,
		proxy,
		&kubelet.Kubelet{ConfigFile: l.KubeletConfig(), Args: kubeletArgs, Kubeconfig: l.KubeletKubeconfig(), NodeName: o.Agent.NodeName, Log: o.Log},
		proxy.Synced(),
		&localstorage.Cleaner{Kubeconfig: l.KubeletKubeconfig(), NodeName: o.Agent.NodeName, Dir: l.StorageDir(), Log: o.Log},
		&serverList{Kubeconfig: l.KubeletKubeconfig(), LB: lb, Pinned: serverHost, Log: o.Log},
	)
	return comps, nil
}

func hostPort(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("server URL %q: give it as https://HOST:6443", server)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "6443"), nil
	}
	return u.Host, nil
}

// Node is the node as one component of kite server.
type Node struct {
	Options
	ready chan struct{}
}

func (n *Node) Name() string { return "node" }

func (n *Node) Prepare(context.Context) error {
	n.ready = make(chan struct{})
	n.Embedded = true
	n.OnReady = func() { close(n.ready) }
	return nil
}

func (n *Node) Run(ctx context.Context) error { return Run(ctx, n.Options) }

func (n *Node) Ready(ctx context.Context) error {
	select {
	case <-n.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitOrDone sleeps d, or less if ctx ends.
func waitOrDone(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
