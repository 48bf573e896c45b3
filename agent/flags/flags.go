// Package flags renders what kite gives the node's upstream components: the
// kubelet's configuration file and command line, and kube-proxy's command
// line. User pass-through flags replace kite's flag of the same name.
package flags

import (
	"bytes"
	"encoding/json"
	"strings"
	"text/template"

	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/pkg/datadir"
)

// Node is the node's settings and what was decided at start.
type Node struct {
	Agent          config.Agent // validated: NodeName set
	NodeIP         string
	ClusterDNS     string
	ClusterDomain  string
	ClusterCIDR    string
	CgroupDriver   string // cgroupfs or systemd
	CgroupV2       bool
	ClientCAFile   string // to authenticate the API server's calls to the kubelet
	ServingCert    string
	ServingKey     string
	ContainerdSock string
	ResolvConf     string
}

// KubeletConfig returns the KubeletConfiguration file.
func KubeletConfig(l datadir.Layout, n Node) ([]byte, error) {
	var buf bytes.Buffer
	err := kubeletTemplate.Execute(&buf, map[string]any{"L": l, "N": n, "FailCgroupV1": !n.CgroupV2})
	return buf.Bytes(), err
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var kubeletTemplate = template.Must(template.New("kubelet.yaml").Funcs(template.FuncMap{"q": quote}).Parse(
	`# Written by kite at every agent start; use --kubelet-arg to change settings.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {{q .N.ClientCAFile}}
authorization:
  mode: Webhook
tlsCertFile: {{q .N.ServingCert}}
tlsPrivateKeyFile: {{q .N.ServingKey}}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
clusterDNS:
- {{q .N.ClusterDNS}}
clusterDomain: {{q .N.ClusterDomain}}
resolvConf: {{q .N.ResolvConf}}
containerRuntimeEndpoint: {{q (print "unix://" .N.ContainerdSock)}}
cgroupDriver: {{.N.CgroupDriver}}
{{- if .FailCgroupV1}}
# This host has cgroup v1, which the kubelet refuses unless told.
failCgroupV1: false
{{- end}}
failSwapOn: false
# Pod and container stats from containerd (CRI) instead of cAdvisor, which
# then watches the node's own cgroups only, not three more a pod, each with
# a housekeeping goroutine and a stats history (docs/node-agent.md).
featureGates:
  PodAndContainerStatsFromCRI: true
serializeImagePulls: false
podLogsDir: {{q .L.PodLogsDir}}
volumePluginDir: {{q .L.KubeletVolumePluginDir}}
`))

// KubeletArgs returns the kubelet's flags.
func KubeletArgs(l datadir.Layout, n Node) []string {
	defaults := []config.Arg{
		{Name: "kubeconfig", Value: l.KubeletKubeconfig()},
		{Name: "root-dir", Value: l.KubeletDir()},
		{Name: "cert-dir", Value: l.KubeletCertDir()},
		{Name: "hostname-override", Value: n.Agent.NodeName},
		{Name: "node-ip", Value: n.NodeIP},
	}
	if len(n.Agent.NodeLabels) > 0 {
		defaults = append(defaults, config.Arg{Name: "node-labels", Value: strings.Join(n.Agent.NodeLabels, ",")})
	}
	if len(n.Agent.NodeTaints) > 0 {
		defaults = append(defaults, config.Arg{Name: "register-with-taints", Value: strings.Join(n.Agent.NodeTaints, ",")})
	}
	return config.MergeArgs(defaults, n.Agent.KubeletArgs)
}

// KubeProxyArgs returns kube-proxy's flags.
func KubeProxyArgs(l datadir.Layout, n Node) []string {
	return config.MergeArgs([]config.Arg{
		{Name: "kubeconfig", Value: l.KubeProxyKubeconfig()},
		{Name: "hostname-override", Value: n.Agent.NodeName},
		{Name: "proxy-mode", Value: "iptables"},
		{Name: "cluster-cidr", Value: n.ClusterCIDR},
		// Leave the host's conntrack table size alone (and work inside
		// network namespaces, where it cannot be set).
		{Name: "conntrack-max-per-core", Value: "0"},
		{Name: "healthz-bind-address", Value: "127.0.0.1:10256"},
		{Name: "metrics-bind-address", Value: "127.0.0.1:10249"},
	}, n.Agent.KubeProxyArgs)
}

// FlagValue returns the last value of --name in args ("" if absent): what
// the component will use, a user's pass-through flag included.
func FlagValue(args []string, name string) string {
	v := ""
	for _, a := range args {
		if val, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			v = val
		}
	}
	return v
}
