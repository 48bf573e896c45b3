package cni

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestRenderBridgeWithNodePodCIDR(t *testing.T) {
	data, err := Network{PodCIDR: "10.42.3.0/24", IPAMDir: "/var/lib/kite/agent/cni/ipam"}.Render()
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Name    string `json:"name"`
		Plugins []struct {
			Type   string `json:"type"`
			Bridge string `json:"bridge"`
			IPMasq bool   `json:"ipMasq"`
			IPAM   struct {
				Type    string                `json:"type"`
				Ranges  [][]map[string]string `json:"ranges"`
				DataDir string                `json:"dataDir"`
			} `json:"ipam"`
			Capabilities map[string]bool `json:"capabilities"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		t.Fatal(err)
	}
	if len(conf.Plugins) != 2 || conf.Plugins[0].Type != "bridge" || conf.Plugins[1].Type != "portmap" {
		t.Fatalf("plugins %+v", conf.Plugins)
	}
	br := conf.Plugins[0]
	if br.Bridge != BridgeName || !br.IPMasq || br.IPAM.Type != "host-local" || br.IPAM.Ranges[0][0]["subnet"] != "10.42.3.0/24" || br.IPAM.DataDir != "/var/lib/kite/agent/cni/ipam" {
		t.Fatalf("bridge %+v", br)
	}
	if !conf.Plugins[1].Capabilities["portMappings"] {
		t.Fatal("portmap without the portMappings capability")
	}
}

func TestRenderRejectsBadCIDR(t *testing.T) {
	if _, err := (Network{PodCIDR: "10.42.3.0"}).Render(); err == nil {
		t.Fatal("accepted a PodCIDR without prefix length")
	}
}

func TestWriteOnlyWhenChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "net.d", "10-kite.conflist")
	n := Network{PodCIDR: "10.42.0.0/24", IPAMDir: "/x"}
	if err := n.Write(path); err != nil {
		t.Fatal(err)
	}
	st1, _ := os.Stat(path)
	if err := n.Write(path); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(path)
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Fatal("rewritten without change")
	}
}

func TestRenderForFlannel(t *testing.T) {
	data, err := Network{PodCIDR: "10.42.3.0/24", IPAMDir: "/x", MTU: 1450, NoMasquerade: true}.Render()
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Plugins []struct {
			MTU    int  `json:"mtu"`
			IPMasq bool `json:"ipMasq"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		t.Fatal(err)
	}
	// With masquerade on the bridge, pods of other nodes would see this
	// node's address instead of the pod's.
	if conf.Plugins[0].MTU != 1450 || conf.Plugins[0].IPMasq {
		t.Fatalf("bridge for flannel: %+v", conf.Plugins[0])
	}
}
