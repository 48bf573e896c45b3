// Package config holds the settings of `kite server` and checks them before
// anything is started or written, so that bad input fails fast and cleanly.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kite-project/kite/pkg/datadir"
	"github.com/kite-project/kite/pkg/dbendpoint"
	"github.com/kite-project/kite/pkg/token"
)

// Defaults, as a K3s user would expect them.
const (
	DefaultDataDir        = datadir.Default
	DefaultKubeconfig     = "/etc/kite/kite.yaml"
	DefaultKubeconfigMode = "0600"
	DefaultHTTPSPort      = 6443
	DefaultBindAddress    = "0.0.0.0"
	DefaultClusterCIDR    = "10.42.0.0/16"
	DefaultServiceCIDR    = "10.43.0.0/16"
	DefaultClusterDNS     = "10.43.0.10"
	DefaultClusterDomain  = "cluster.local"
	DefaultFlannelBackend = "vxlan"
	SchedulerPort         = 10259
	ControllerManagerPort = 10257
)

// Server is everything `kite server` is told.
type Server struct {
	DataDir          string
	BindAddress      string
	HTTPSPort        int
	AdvertiseAddress string // empty: the node's IP, detected at start
	TLSSANs          []string
	ClusterCIDR      string
	ServiceCIDR      string
	ClusterDNS       string
	ClusterDomain    string
	Token            string
	AgentToken       string
	FlannelBackend   string // vxlan, host-gw or none
	WriteKubeconfig  string
	KubeconfigMode   string

	APIServerArgs         []string
	SchedulerArgs         []string
	ControllerManagerArgs []string

	// Disable lists packaged add-ons to leave out (and remove).
	Disable []string

	// JoinURL is a server of the cluster this server joins as a
	// control-plane member (--server); Token must then be the cluster's
	// server token, in full.
	JoinURL string

	// ClusterInit keeps the cluster in embedded etcd instead of SQLite (a
	// server with an etcd data dir uses it on every start, flag or not).
	ClusterInit bool

	// ClusterReset makes this server's etcd member a cluster of one with
	// its data, then stops (the control plane lost its quorum).
	ClusterReset bool

	// ClusterResetRestorePath is an etcd snapshot that --cluster-reset
	// restores instead of keeping this server's etcd data.
	ClusterResetRestorePath string

	// EtcdSnapshots are embedded etcd's scheduled snapshots.
	EtcdSnapshots EtcdSnapshots

	// DatastoreEndpoint is an external datastore (--datastore-endpoint:
	// PostgreSQL, MySQL, an etcd cluster, or SQLite at a path); empty for
	// the data dir's own. It may hold a password: log Datastore().Redacted.
	DatastoreEndpoint string
	// DatastoreTLS are the client files for the external datastore.
	DatastoreTLS DatastoreTLS
	// DatastorePool bounds the connections to a SQL datastore.
	DatastorePool dbendpoint.Pool

	// DatastoreRestore is a backup (kite datastore backup) to put in place
	// of the datastore before the server starts.
	DatastoreRestore string

	// The node agent that `kite server` runs too, unless DisableAgent.
	DisableAgent bool
	Agent        Agent
}

// NewServer returns the defaults.
func NewServer() Server {
	return Server{
		DataDir:         DefaultDataDir,
		BindAddress:     DefaultBindAddress,
		HTTPSPort:       DefaultHTTPSPort,
		ClusterCIDR:     DefaultClusterCIDR,
		ServiceCIDR:     DefaultServiceCIDR,
		ClusterDNS:      DefaultClusterDNS,
		ClusterDomain:   DefaultClusterDomain,
		WriteKubeconfig: DefaultKubeconfig,
		KubeconfigMode:  DefaultKubeconfigMode,
		DatastorePool:   dbendpoint.DefaultPool,
		FlannelBackend:  DefaultFlannelBackend,
		EtcdSnapshots:   EtcdSnapshots{Schedule: DefaultSnapshotSchedule, Retention: DefaultSnapshotRetention},
	}
}

// Validate checks every setting and normalises paths and lists. Its errors
// name the flag and say what a valid value looks like.
func (s *Server) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	s.DataDir = absDataDir(s.DataDir, add)

	if ip := net.ParseIP(s.BindAddress); ip == nil {
		add("--bind-address %q is not an IP address (e.g. 0.0.0.0 or 192.168.1.10)", s.BindAddress)
	}
	if s.HTTPSPort < 1 || s.HTTPSPort > 65535 {
		add("--https-listen-port %d is out of range; use 1-65535 (default %d)", s.HTTPSPort, DefaultHTTPSPort)
	}
	if s.AdvertiseAddress != "" {
		ip := net.ParseIP(s.AdvertiseAddress)
		switch {
		case ip == nil:
			add("--advertise-address %q is not an IP address", s.AdvertiseAddress)
		case ip.IsLoopback() || ip.IsUnspecified():
			add("--advertise-address %s cannot be a loopback or unspecified address; give an IP other hosts and pods can reach", s.AdvertiseAddress)
		}
	}

	s.TLSSANs = commaList(s.TLSSANs)
	for _, san := range s.TLSSANs {
		if net.ParseIP(san) == nil && !isDNSName(san) {
			add("--tls-san %q is neither an IP address nor a DNS name", san)
		}
	}

	clusterNet := parseNetwork("--cluster-cidr", s.ClusterCIDR, add)
	serviceNet := parseNetwork("--service-cidr", s.ServiceCIDR, add)
	// The controller-manager gives each node a /24 of the cluster CIDR
	// (unless told otherwise): a narrower one would leave every node
	// without pods' addresses.
	if clusterNet != nil && narrowerThan24(clusterNet) && !hasArg(s.ControllerManagerArgs, "node-cidr-mask-size") {
		add("--cluster-cidr %s is narrower than one node's pod range (a /24); give a /24 or wider (the default %s holds 256 nodes)", s.ClusterCIDR, DefaultClusterCIDR)
	}
	if clusterNet != nil && serviceNet != nil && overlap(clusterNet, serviceNet) {
		add("--cluster-cidr %s and --service-cidr %s overlap; pod and service addresses must come from separate ranges", s.ClusterCIDR, s.ServiceCIDR)
	}
	if dns := net.ParseIP(s.ClusterDNS); dns == nil {
		add("--cluster-dns %q is not an IP address", s.ClusterDNS)
	} else if serviceNet != nil && !serviceNet.Contains(dns) {
		add("--cluster-dns %s is outside --service-cidr %s; pick an address inside it (e.g. the .10 of the range)", s.ClusterDNS, s.ServiceCIDR)
	}
	if !isDNSName(s.ClusterDomain) {
		add("--cluster-domain %q is not a valid DNS domain (e.g. cluster.local)", s.ClusterDomain)
	}

	if s.WriteKubeconfig == "" {
		add("--write-kubeconfig is empty; give a file path such as %s", DefaultKubeconfig)
	}
	if _, err := ParseFileMode(s.KubeconfigMode); err != nil {
		add("--write-kubeconfig-mode: %v", err)
	}
	if s.Token != "" {
		// Checked here too, not only when the token file is written: a
		// refused start must write nothing.
		if t, err := token.Parse(s.Token); err != nil {
			add("--token: %v", err)
		} else if _, _, ok := t.Bootstrap(); ok {
			add("--token is a bootstrap token (from 'kite token create'), which only joins agents; give the server token")
		} else if t.User == token.AgentUser {
			add("--token is an agent token (…::%s:…), which cannot start or join a server; use the server token (<data-dir>/server/token on the first server)", token.AgentUser)
		}
	}
	if s.AgentToken != "" && strings.IndexAny(s.AgentToken, " \t\r\n") >= 0 {
		add("--agent-token contains white space; give it without spaces or line breaks")
	}
	switch s.FlannelBackend {
	case "vxlan", "host-gw", "none":
	case "wireguard-native", "wireguard":
		add("--flannel-backend %s is not available in kite (this needs WireGuard in the kernel); use vxlan, host-gw or none", s.FlannelBackend)
	default:
		add("--flannel-backend %q is not one of vxlan, host-gw, none", s.FlannelBackend)
	}

	for flag, list := range map[string][]string{
		"--kube-apiserver-arg":          s.APIServerArgs,
		"--kube-scheduler-arg":          s.SchedulerArgs,
		"--kube-controller-manager-arg": s.ControllerManagerArgs,
	} {
		for _, a := range list {
			if _, _, err := splitArg(a); err != nil {
				add("%s %q: %v", flag, a, err)
			}
		}
	}
	if s.DatastoreRestore != "" {
		s.DatastoreRestore = checkFile("--datastore-restore", s.DatastoreRestore, "give the file 'kite datastore backup' wrote", add)
	}
	if s.JoinURL != "" {
		if u, err := url.Parse(s.JoinURL); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			add("--server %q is not a server's URL; give it as https://HOST:6443", s.JoinURL)
		}
		s.JoinURL = strings.TrimSuffix(s.JoinURL, "/")
		switch t, err := token.Parse(s.Token); {
		case s.Token == "":
			add("--server needs --token: the cluster's server token, from <data-dir>/server/token on a server")
		case err != nil:
			// reported above
		case t.CAHash == "":
			add("--token: a joining server needs the full server token (K10<hash>::server:<secret>, from <data-dir>/server/token on a server), which pins the cluster's CA: the cluster's keys are sent only to a server that checked it")
		}
		if s.ClusterInit {
			add("--server and --cluster-init cannot be used together: --cluster-init starts a new cluster, --server joins one; give one of them")
		}
		if s.DatastoreRestore != "" {
			add("--server and --datastore-restore cannot be used together: a joining server takes the cluster's data from the others")
		}
	}
	s.validateDatastore(add)
	if s.ClusterResetRestorePath != "" {
		if !s.ClusterReset {
			add("--cluster-reset-restore-path needs --cluster-reset: kite server --cluster-reset --cluster-reset-restore-path FILE")
		}
		if s.JoinURL != "" {
			add("--cluster-reset-restore-path and --server cannot be used together: restore on one server, then join the others to it")
		}
		s.ClusterResetRestorePath = checkFile("--cluster-reset-restore-path", s.ClusterResetRestorePath, "give a snapshot from 'kite etcd-snapshot save' or <data-dir>/server/db/snapshots", add)
	}
	s.EtcdSnapshots.validate(add)
	if s.ClusterReset && s.DatastoreRestore != "" {
		add("--cluster-reset and --datastore-restore cannot be used together: --cluster-reset keeps this server's etcd data, --datastore-restore restores a SQLite backup")
	}
	if s.ClusterInit && s.DatastoreRestore != "" {
		add("--cluster-init and --datastore-restore cannot be used together: --datastore-restore restores a SQLite backup ('kite datastore backup') and --cluster-init starts etcd; give one of them")
	}
	s.Disable = commaList(s.Disable)
	for _, name := range s.Disable {
		if !slices.Contains(AddOns, name) {
			add("--disable %q is not one of %s", name, strings.Join(AddOns, ", "))
		}
	}
	if !s.DisableAgent {
		if err := s.Agent.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkFile makes path absolute and says if it is not a file.
func checkFile(flag, path, fix string, add func(string, ...any)) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if st, err := os.Stat(path); err != nil {
		add("%s %s: %v; %s", flag, path, errors.Unwrap(err), fix)
	} else if !st.Mode().IsRegular() {
		add("%s %s is not a file; %s", flag, path, fix)
	}
	return path
}

// AddOns are the packaged add-ons --disable names.
var AddOns = []string{"coredns", "local-storage", "servicelb", "metrics-server", "helm-controller"}

// APIAddOns are the add-ons that change the API (an APIService, kinds):
// every server of a cluster must leave out the same ones.
var APIAddOns = []string{"metrics-server", "helm-controller"}

// Disabled reports whether --disable names the add-on.
func (s *Server) Disabled(addOn string) bool { return slices.Contains(s.Disable, addOn) }

// ParseFileMode reads an octal permission such as 0600 or 644.
func ParseFileMode(s string) (os.FileMode, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("%q is not an octal file mode such as 0600 or 0644", s)
	}
	return os.FileMode(m), nil
}

// LoopbackHost is the address local clients (kubectl on this host, the
// scheduler, the controller-manager) use to reach the API server: loopback
// when it listens on every address, else the one address it binds.
func (s *Server) LoopbackHost() string {
	ip := net.ParseIP(s.BindAddress)
	if ip == nil || ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return ip.String()
}

// APIServerURL is the URL local clients use.
func (s *Server) APIServerURL() string {
	return "https://" + net.JoinHostPort(s.LoopbackHost(), strconv.Itoa(s.HTTPSPort))
}

// ServiceAPIServerIP is the first address of the service CIDR, which the
// `kubernetes` Service in the default namespace takes.
func (s *Server) ServiceAPIServerIP() (net.IP, error) {
	_, n, err := net.ParseCIDR(s.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	ip := make(net.IP, len(n.IP))
	copy(ip, n.IP)
	ip[len(ip)-1]++
	return ip, nil
}

func parseNetwork(flag, value string, add func(string, ...any)) *net.IPNet {
	ip, n, err := net.ParseCIDR(value)
	if err != nil {
		add("%s %q is not a CIDR (e.g. %s)", flag, value, map[string]string{
			"--cluster-cidr": DefaultClusterCIDR, "--service-cidr": DefaultServiceCIDR}[flag])
		return nil
	}
	if !ip.Equal(n.IP) {
		add("%s %s has host bits set; did you mean %s?", flag, value, n.String())
		return nil
	}
	return n
}

// narrowerThan24 reports an IPv4 network smaller than a /24.
func narrowerThan24(n *net.IPNet) bool {
	ones, bits := n.Mask.Size()
	return bits == 32 && ones > 24
}

func overlap(a, b *net.IPNet) bool {
	return a.Contains(b.IP) || b.Contains(a.IP)
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// isDNSName accepts a lower-case DNS name, with a leading "*." wildcard.
func isDNSName(s string) bool {
	s = strings.TrimPrefix(s, "*.")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !dnsLabel.MatchString(label) {
			return false
		}
	}
	return true
}

// Layout is the map of the data dir: every path under it.
func (s *Server) Layout() datadir.Layout { return datadir.New(s.DataDir) }

// commaList reads a repeatable flag whose values may also be comma lists.
func commaList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// absDataDir checks --data-dir and returns it as an absolute path.
func absDataDir(dir string, add func(string, ...any)) string {
	if dir == "" {
		add("--data-dir is empty; give a folder such as %s", DefaultDataDir)
		return dir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		add("--data-dir %q: %v", dir, err)
		return dir
	}
	longest := ""
	for _, sock := range datadir.New(abs).Sockets() {
		if rel := strings.TrimPrefix(sock, abs); len(rel) > len(longest) {
			longest = rel
		}
	}
	if n := len(abs) + len(longest); n > maxSocketPath {
		add("--data-dir %s is too long (%d characters): unix sockets under it (%s) must fit in %d bytes; use a folder path of at most %d characters", abs, len(abs), longest, maxSocketPath, maxSocketPath-len(longest))
	}
	return abs
}

// The kernel limits a unix socket's path to 107 bytes (datadir's Sockets
// are those kite puts under the data dir).
const maxSocketPath = 107
