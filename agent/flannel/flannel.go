// Package flannel runs flannel (github.com/flannel-io/flannel) in the kite
// process: the pod network between nodes. It uses the Kubernetes subnet
// manager, so each node's subnet is its spec.podCIDR (allocated by the
// controller-manager), and the vxlan or host-gw backend. Once the node's
// lease is up it writes the node's CNI configuration (a bridge with
// addresses from the PodCIDR, flannel's MTU, no masquerade of its own).
package flannel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flannel-io/flannel/pkg/backend"
	_ "github.com/flannel-io/flannel/pkg/backend/hostgw" // registers host-gw
	_ "github.com/flannel-io/flannel/pkg/backend/vxlan"  // registers vxlan
	"github.com/flannel-io/flannel/pkg/ip"
	"github.com/flannel-io/flannel/pkg/ipmatch"
	"github.com/flannel-io/flannel/pkg/subnet"
	"github.com/flannel-io/flannel/pkg/subnet/kube"
	"github.com/flannel-io/flannel/pkg/trafficmngr/iptables"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kite-project/kite/agent/cni"
	"github.com/kite-project/kite/pkg/fileutil"
	"github.com/kite-project/kite/pkg/kubeclient"
	"github.com/kite-project/kite/pkg/logging"
)

// Backends kite offers; "none" leaves the pod network to the user's CNI.
const (
	VXLAN  = "vxlan"
	HostGW = "host-gw"
	None   = "none"
)

// annotationPrefix is flannel's usual one, so flannel tools read the nodes.
const annotationPrefix = "flannel.alpha.coreos.com"

// Flannel is the component. It is ready at once: the kubelet, started
// next, registers the Node whose PodCIDR flannel waits for.
type Flannel struct {
	Kubeconfig  string // the kubelet's: may patch its own Node's status
	NodeName    string
	NodeIP      net.IP
	Iface       string // --flannel-iface; empty: the interface of NodeIP
	Backend     string // VXLAN or HostGW
	ClusterCIDR string
	// Its files (pkg/datadir: FlannelNetConf, FlannelSubnetEnv, CNIConfFile).
	NetConfFile string
	SubnetFile  string
	CNIConfFile string
	IPAMDir     string
	Log         *slog.Logger
}

func (f *Flannel) Name() string                { return "flannel (" + f.Backend + ")" }
func (f *Flannel) Ready(context.Context) error { return nil }

// NetConf returns flannel's network configuration for the cluster.
func NetConf(clusterCIDR, backendType string) ([]byte, error) {
	var be any
	switch backendType {
	case VXLAN:
		be = map[string]any{"Type": VXLAN, "VNI": 1, "Port": 8472}
	case HostGW:
		be = map[string]any{"Type": HostGW}
	default:
		return nil, fmt.Errorf("flannel backend %q is not one of %s, %s, %s", backendType, VXLAN, HostGW, None)
	}
	data, err := json.MarshalIndent(map[string]any{"Network": clusterCIDR, "EnableIPv4": true, "EnableIPv6": false, "Backend": be}, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, err := subnet.ParseConfig(string(data)); err != nil {
		return nil, fmt.Errorf("flannel configuration for --cluster-cidr %s: %w", clusterCIDR, err)
	}
	return data, nil
}

// Prepare writes flannel's configuration and checks the kernel offers
// what flannel needs.
func (f *Flannel) Prepare(context.Context) error {
	conf, err := NetConf(f.ClusterCIDR, f.Backend)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.NetConfFile), 0o755); err != nil {
		return err
	}
	if _, err := fileutil.WriteIfChanged(f.NetConfFile, conf, 0o644); err != nil {
		return err
	}
	// Pods' traffic between the bridge and flannel must pass iptables
	// (kube-proxy's rules), and be forwarded at all.
	if _, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables"); err != nil {
		return errors.New("bridge netfilter is missing (/proc/sys/net/bridge/bridge-nf-call-iptables); load the br_netfilter kernel module (modprobe br_netfilter)")
	}
	for _, s := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/bridge/bridge-nf-call-iptables"} {
		if err := os.WriteFile(s, []byte("1"), 0o644); err != nil {
			return fmt.Errorf("cannot turn on %s: %w", s, err)
		}
	}
	return nil
}

func (f *Flannel) Run(ctx context.Context) error {
	ctx = logging.KlogContext(ctx, "flannel") // its contextual klog lines name it
	podCIDR, err := f.waitForPodCIDR(ctx)
	if err != nil || ctx.Err() != nil {
		return err
	}
	// flannel's subnet manager reads the node's name from the environment
	// only: one node per process.
	os.Setenv("NODE_NAME", f.NodeName)
	sm, err := kube.NewSubnetManager(ctx, "", f.Kubeconfig, annotationPrefix, f.NetConfFile, false)
	if err != nil {
		return fmt.Errorf("flannel subnet manager: %w", err)
	}
	config, err := sm.GetNetworkConfig(ctx)
	if err != nil {
		return err
	}
	ifname := f.Iface
	if ifname == "" {
		ifname = f.NodeIP.String() // flannel finds the interface by its IP
	}
	stack, err := ipmatch.GetIPFamily(true, false)
	if err != nil {
		return err
	}
	ext, err := ipmatch.LookupExtIface(ifname, "", "", stack, ipmatch.PublicIPOpts{})
	if err != nil {
		return fmt.Errorf("flannel cannot use interface %q: %w; check --flannel-iface and --node-ip", ifname, err)
	}
	be, err := backend.NewManager(ctx, sm, ext).GetBackend(config.BackendType)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	network, err := be.RegisterNetwork(ctx, &wg, config)
	if err != nil {
		return fmt.Errorf("flannel %s network: %w", config.BackendType, err)
	}
	lease := network.Lease()
	tm := &iptables.IPTablesManager{}
	if err := tm.Init(ctx); err != nil {
		return err
	}
	prevNetwork, prevSubnet := previousLease(f.SubnetFile)
	if err := tm.SetupAndEnsureMasqRules(ctx, config.Network, prevSubnet, prevNetwork, ip.IP6Net{}, ip.IP6Net{}, ip.IP6Net{}, lease, 60, false); err != nil {
		return fmt.Errorf("flannel masquerade rules: %w", err)
	}
	tm.SetupAndEnsureForwardRules(ctx, config.Network, ip.IP6Net{}, 50)
	mtu := network.MTU()
	if err := subnet.WriteSubnetFile(f.SubnetFile, config, true, lease.Subnet, ip.IP6Net{}, mtu); err != nil {
		return err
	}
	if err := (cni.Network{PodCIDR: podCIDR, IPAMDir: f.IPAMDir, MTU: mtu, NoMasquerade: true}).Write(f.CNIConfFile); err != nil {
		return err
	}
	f.Log.Info("pod network configured", "backend", config.BackendType, "podCIDR", podCIDR, "mtu", mtu, "interface", ext.Iface.Name)
	network.Run(ctx)
	return nil
}

// podCIDRPatience is how long a node waits for its pod range before it
// says so: the controller-manager gives one within a second or two.
const podCIDRPatience = 30 * time.Second

// NoPodCIDRHint explains a node left without a pod range. The usual cause
// at scale: the controller-manager gives each node a /24 of the cluster
// CIDR, so the default /16 holds 256 nodes, and node 257 waits forever
// (its only trace upstream is the controller-manager's "failed to allocate
// cidr" error on the server).
func NoPodCIDRHint(clusterCIDR string) string {
	nodes := "some"
	if _, n, err := net.ParseCIDR(clusterCIDR); err == nil {
		if ones, bits := n.Mask.Size(); bits == 32 && ones <= 24 {
			nodes = strconv.Itoa(1 << (24 - ones))
		}
	}
	return fmt.Sprintf("the node has no pod range (spec.podCIDR) yet; the controller-manager gives each node a /24 (by default) of the cluster CIDR %s, which holds %s nodes: "+
		"if the cluster has that many, this node cannot get one (the server's log says \"failed to allocate cidr\"); a fleet of more nodes needs a wider --cluster-cidr, chosen at install (docs/scale.md)", clusterCIDR, nodes)
}

func (f *Flannel) waitForPodCIDR(ctx context.Context) (string, error) {
	cs, err := kubeclient.FromFile(f.Kubeconfig)
	if err != nil {
		return "", err
	}
	warnAt := time.Now().Add(podCIDRPatience)
	for {
		node, err := cs.CoreV1().Nodes().Get(ctx, f.NodeName, metav1.GetOptions{})
		if err == nil && node.Spec.PodCIDR != "" {
			return node.Spec.PodCIDR, nil
		}
		if !warnAt.IsZero() && time.Now().After(warnAt) {
			f.Log.Warn(NoPodCIDRHint(f.ClusterCIDR), "node", f.NodeName, "waited", podCIDRPatience.String())
			warnAt = time.Time{}
		}
		select {
		case <-ctx.Done():
			return "", nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// previousLease reads the network and subnet of the last run, so that
// flannel removes masquerade rules of a subnet this node no longer has.
func previousLease(path string) (network, sn ip.IP4Net) {
	data, err := os.ReadFile(path)
	if err != nil {
		return network, sn
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "FLANNEL_NETWORK":
			if _, n, err := net.ParseCIDR(v); err == nil {
				network = ip.FromIPNet(n)
			}
		case "FLANNEL_SUBNET":
			if _, n, err := net.ParseCIDR(v); err == nil {
				sn = ip.FromIPNet(n)
			}
		}
	}
	return network, sn
}
