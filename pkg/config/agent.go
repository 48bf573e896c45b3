package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/kite-project/kite/pkg/resolvconf"
	"github.com/kite-project/kite/pkg/token"
)

// Agent is what the node part of kite is told.
type Agent struct {
	NodeName      string // default: the host name, lower-cased
	NodeIP        string // default: the IP of the default-route interface
	NodeLabels    []string
	NodeTaints    []string
	KubeletArgs   []string
	KubeProxyArgs []string
	// FlannelIface is the interface flannel carries pod traffic over
	// (default: the one with the node's IP).
	FlannelIface string
	// ResolvConf is the resolv.conf the kubelet gives pods with dnsPolicy
	// Default, CoreDNS among them (default: the host's, unless it names
	// only loopback resolvers).
	ResolvConf string
	// WithNodeID appends a stable random suffix to the node name.
	WithNodeID bool
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
	if a.ResolvConf != "" {
		if err := resolvconf.Check(a.ResolvConf); err != nil {
			errs = append(errs, err)
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

// DefaultLBServerPort is the node's local port in front of the API servers.
const DefaultLBServerPort = 6444

// AgentCommand is everything `kite agent` is told.
type AgentCommand struct {
	Server       string // https://HOST:PORT
	Token        string
	TokenFile    string
	DataDir      string
	LBServerPort int
	Agent        Agent

	// ParsedToken is Token (or TokenFile's content), once validated.
	ParsedToken token.Token
}

// NewAgentCommand returns the defaults.
func NewAgentCommand() AgentCommand {
	return AgentCommand{DataDir: DefaultDataDir, LBServerPort: DefaultLBServerPort}
}

// Validate checks the flags of `kite agent` without contacting the server.
func (a *AgentCommand) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if a.Server == "" {
		add("--server is missing: give the URL of a kite server, e.g. --server https://192.168.1.10:6443")
	} else if u, err := url.Parse(a.Server); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		add("--server %q is not a server URL; write it as https://HOST:6443", a.Server)
	} else {
		if u.Port() == "" {
			u.Host = net.JoinHostPort(u.Hostname(), "6443")
		}
		a.Server = "https://" + u.Host
	}
	switch {
	case a.Token != "" && a.TokenFile != "":
		add("--token and --token-file are both given; give one of them")
	case a.TokenFile != "":
		data, err := os.ReadFile(a.TokenFile)
		if err != nil {
			add("--token-file: %v", err)
		} else {
			a.Token = strings.TrimSpace(string(data))
		}
	}
	if a.Token == "" && a.TokenFile == "" {
		add("--token is missing: copy it from the server's /var/lib/kite/server/token (or use 'kite token create' there)")
	} else if a.Token != "" {
		t, err := token.Parse(a.Token)
		if err != nil {
			add("--token: %v", err)
		}
		a.ParsedToken = t
	}
	a.DataDir = absDataDir(a.DataDir, add)
	if a.LBServerPort < 1 || a.LBServerPort > 65535 {
		add("--lb-server-port %d is out of range; use 1-65535 (default %d)", a.LBServerPort, DefaultLBServerPort)
	}
	if err := a.Agent.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
