package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// AgentDir holds the node's state: <data-dir>/agent.
func AgentDir(dataDir string) string { return filepath.Join(dataDir, "agent") }

// Agent is what the node part of kite is told.
type Agent struct {
	NodeName      string // default: the host name, lower-cased
	NodeIP        string // default: the IP of the default-route interface
	NodeLabels    []string
	NodeTaints    []string
	KubeletArgs   []string
	KubeProxyArgs []string
}

var taintEffects = map[string]bool{"NoSchedule": true, "PreferNoSchedule": true, "NoExecute": true}

// Validate checks the agent settings and fills in the node name.
func (a *Agent) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if a.NodeName == "" {
		host, err := os.Hostname()
		if err != nil {
			add("cannot read the host name (%v); pass --node-name", err)
		}
		a.NodeName = strings.ToLower(host)
	}
	if !isDNSName(a.NodeName) || strings.HasPrefix(a.NodeName, "*.") {
		add("node name %q is not a valid DNS name (lower case letters, digits, '-' and '.'); pass --node-name", a.NodeName)
	}
	if a.NodeIP != "" {
		if ip := net.ParseIP(a.NodeIP); ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
			add("--node-ip %q is not a usable IP address of this host", a.NodeIP)
		}
	}
	for _, l := range a.NodeLabels {
		if k, _, ok := strings.Cut(l, "="); !ok || k == "" {
			add("--node-label %q: write it as key=value", l)
		}
	}
	for _, t := range a.NodeTaints {
		kv, effect, ok := strings.Cut(t, ":")
		k, _, _ := strings.Cut(kv, "=")
		if !ok || k == "" || !taintEffects[effect] {
			add("--node-taint %q: write it as key=value:Effect or key:Effect, Effect one of NoSchedule, PreferNoSchedule, NoExecute", t)
		}
	}
	for flag, list := range map[string][]string{"--kubelet-arg": a.KubeletArgs, "--kube-proxy-arg": a.KubeProxyArgs} {
		for _, arg := range list {
			if _, _, err := splitArg(arg); err != nil {
				add("%s %q: %v", flag, arg, err)
			}
		}
	}
	return errors.Join(errs...)
}
