package flags

import (
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/pkg/datadir"
)

func node() Node {
	return Node{
		Agent:          config.Agent{NodeName: "edge-1", NodeLabels: []string{"zone=a", "tier=edge"}, NodeTaints: []string{"dedicated=edge:NoSchedule"}},
		NodeIP:         "198.18.0.11",
		ClusterDNS:     "10.43.0.10",
		ClusterDomain:  "cluster.local",
		ClusterCIDR:    "10.42.0.0/16",
		CgroupDriver:   "cgroupfs",
		ClientCAFile:   "/d/server/tls/client-ca.crt",
		ServingCert:    "/d/agent/tls/kubelet-serving.crt",
		ServingKey:     "/d/agent/tls/kubelet-serving.key",
		ContainerdSock: "/d/agent/containerd/containerd.sock",
	}
}

func TestKubeletConfigOnCgroupV1(t *testing.T) {
	data, err := KubeletConfig(datadir.New("/d"), node())
	if err != nil {
		t.Fatal(err)
	}
	var kc map[string]any
	if err := yaml.Unmarshal(data, &kc); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, data)
	}
	for key, want := range map[string]any{
		"kind":                     "KubeletConfiguration",
		"cgroupDriver":             "cgroupfs",
		"failCgroupV1":             false,
		"containerRuntimeEndpoint": "unix:///d/agent/containerd/containerd.sock",
		"clusterDomain":            "cluster.local",
		"readOnlyPort":             float64(0),
		"podLogsDir":               "/d/agent/logs/pods",
	} {
		if kc[key] != want {
			t.Errorf("%s = %#v, want %#v", key, kc[key], want)
		}
	}
	if dns := kc["clusterDNS"].([]any); len(dns) != 1 || dns[0] != "10.43.0.10" {
		t.Errorf("clusterDNS %v", dns)
	}
	auth := kc["authentication"].(map[string]any)
	if auth["anonymous"].(map[string]any)["enabled"] != false {
		t.Error("anonymous access to the kubelet is on")
	}
}

func TestKubeletConfigOnCgroupV2LeavesFailCgroupV1Default(t *testing.T) {
	n := node()
	n.CgroupV2, n.CgroupDriver = true, "systemd"
	data, _ := KubeletConfig(datadir.New("/d"), n)
	if strings.Contains(string(data), "failCgroupV1") {
		t.Error("failCgroupV1 set on a cgroup v2 host")
	}
	if !strings.Contains(string(data), "cgroupDriver: systemd") {
		t.Error("cgroup driver not systemd")
	}
}

func value(args []string, name string) []string {
	var out []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

func TestKubeletArgs(t *testing.T) {
	n := node()
	n.Agent.KubeletArgs = []string{"max-pods=50", "node-ip=198.18.0.99"}
	args := KubeletArgs(datadir.New("/d"), n)
	for name, want := range map[string]string{
		"hostname-override":    "edge-1",
		"node-labels":          "zone=a,tier=edge",
		"register-with-taints": "dedicated=edge:NoSchedule",
		"max-pods":             "50",
		"node-ip":              "198.18.0.99", // the user's flag replaces kite's
		"kubeconfig":           "/d/agent/etc/kubelet.kubeconfig",
	} {
		if got := value(args, name); !slices.Equal(got, []string{want}) {
			t.Errorf("--%s = %v, want %s", name, got, want)
		}
	}
}

func TestKubeProxyArgs(t *testing.T) {
	n := node()
	args := KubeProxyArgs(datadir.New("/d"), n)
	if got := value(args, "proxy-mode"); !slices.Equal(got, []string{"iptables"}) {
		t.Errorf("proxy-mode %v", got)
	}
	if got := FlagValue(args, "healthz-bind-address"); got != "127.0.0.1:10256" {
		t.Errorf("healthz address %q", got)
	}
	n.Agent.KubeProxyArgs = []string{"proxy-mode=nftables", "healthz-bind-address=127.0.0.1:20256"}
	if got := FlagValue(KubeProxyArgs(datadir.New("/d"), n), "healthz-bind-address"); got != "127.0.0.1:20256" {
		t.Errorf("a user's healthz address is not the one kite waits on: %q", got)
	}
	if got := value(KubeProxyArgs(datadir.New("/d"), n), "proxy-mode"); !slices.Equal(got, []string{"nftables"}) {
		t.Errorf("nftables not selectable: %v", got)
	}
}
