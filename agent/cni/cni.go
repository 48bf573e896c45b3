// Package cni writes the node's pod network configuration: one Linux
// bridge, addresses from the node's PodCIDR (host-local IPAM), and port
// mappings. flannel carries traffic between nodes and masquerades what
// leaves the cluster; the bridge masquerades only when flannel is not there.
package cni

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/kite-project/kite/pkg/fileutil"
)

// BridgeName is the host bridge the pods attach to.
const BridgeName = "kite0"

// Network is the node's pod network.
type Network struct {
	PodCIDR string // the node's spec.podCIDR
	IPAMDir string // where host-local records the addresses it gave out
	// MTU of the pods' interfaces (0: the bridge plugin's default); flannel's
	// vxlan needs 50 bytes less than the host's interface.
	MTU int
	// NoMasquerade leaves masquerading to flannel, which spares traffic
	// between pods of different nodes.
	NoMasquerade bool
}

// Render returns the conflist.
func (n Network) Render() ([]byte, error) {
	_, subnet, err := net.ParseCIDR(n.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("node PodCIDR %q: %w", n.PodCIDR, err)
	}
	defaultRoute := "0.0.0.0/0"
	if subnet.IP.To4() == nil {
		defaultRoute = "::/0"
	}
	bridge := map[string]any{
		"type":        "bridge",
		"bridge":      BridgeName,
		"isGateway":   true,
		"ipMasq":      !n.NoMasquerade,
		"hairpinMode": true,
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": subnet.String()}}},
			"routes":  []map[string]string{{"dst": defaultRoute}},
			"dataDir": n.IPAMDir,
		},
	}
	if n.MTU > 0 {
		bridge["mtu"] = n.MTU
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "kite",
		"plugins": []any{
			bridge,
			map[string]any{
				"type":         "portmap",
				"capabilities": map[string]bool{"portMappings": true},
			},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// Write writes the conflist to path (pkg/datadir's CNIConfFile), only if
// it changed.
func (n Network) Write(path string) error {
	data, err := n.Render()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	_, err = fileutil.WriteIfChanged(path, data, 0o644)
	return err
}
