package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestDefaultsAreValid(t *testing.T) {
	s := NewServer()
	if err := s.Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	if s.APIServerURL() != "https://127.0.0.1:6443" {
		t.Fatalf("APIServerURL %s", s.APIServerURL())
	}
	ip, err := s.ServiceAPIServerIP()
	if err != nil || ip.String() != "10.43.0.1" {
		t.Fatalf("ServiceAPIServerIP %v %v", ip, err)
	}
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Server)
		want   string // part of the error, naming the flag
	}{
		{"cluster cidr", func(s *Server) { s.ClusterCIDR = "10.42.0.0/33" }, "--cluster-cidr"},
		{"cluster cidr word", func(s *Server) { s.ClusterCIDR = "pods" }, "--cluster-cidr \"pods\" is not a CIDR"},
		{"cluster cidr narrower than a node's", func(s *Server) { s.ClusterCIDR = "10.42.0.0/25" }, "--cluster-cidr 10.42.0.0/25 is narrower than one node's pod range"},
		{"host bits", func(s *Server) { s.ServiceCIDR = "10.43.0.1/16" }, "did you mean 10.43.0.0/16"},
		{"overlap", func(s *Server) { s.ServiceCIDR = "10.42.128.0/17"; s.ClusterDNS = "10.42.128.10" }, "overlap"},
		{"dns outside", func(s *Server) { s.ClusterDNS = "10.44.0.10" }, "--cluster-dns 10.44.0.10 is outside"},
		{"dns not ip", func(s *Server) { s.ClusterDNS = "dns" }, "--cluster-dns"},
		{"bind", func(s *Server) { s.BindAddress = "1.2.3" }, "--bind-address"},
		{"advertise", func(s *Server) { s.AdvertiseAddress = "300.1.1.1" }, "--advertise-address"},
		{"advertise loopback", func(s *Server) { s.AdvertiseAddress = "127.0.0.1" }, "loopback"},
		{"port", func(s *Server) { s.HTTPSPort = 70000 }, "--https-listen-port"},
		{"san", func(s *Server) { s.TLSSANs = []string{"bad_name!"} }, "--tls-san"},
		{"domain", func(s *Server) { s.ClusterDomain = "Cluster Local" }, "--cluster-domain"},
		{"mode", func(s *Server) { s.KubeconfigMode = "0999" }, "--write-kubeconfig-mode"},
		{"arg", func(s *Server) { s.APIServerArgs = []string{"=x"} }, "--kube-apiserver-arg"},
		{"token", func(s *Server) { s.Token = "a b" }, "--token"},
		{"agent token as server token", func(s *Server) { s.Token = "K10" + strings.Repeat("ab", 32) + "::node:x" }, "agent token"},
		{"bootstrap token as server token", func(s *Server) { s.Token = "abcdef.0123456789abcdef" }, "bootstrap token"},
		{"agent token spaces", func(s *Server) { s.AgentToken = "a b" }, "--agent-token"},
		{"flannel backend", func(s *Server) { s.FlannelBackend = "udp" }, "--flannel-backend"},
		{"disable", func(s *Server) { s.Disable = []string{"servicelb,traefik"} }, `--disable "traefik"`},
		{"wireguard", func(s *Server) { s.FlannelBackend = "wireguard-native" }, "WireGuard"},
		{"data dir", func(s *Server) { s.DataDir = "" }, "--data-dir"},
		{"missing backup", func(s *Server) { s.DatastoreRestore = "/no/such/backup.db" }, "--datastore-restore /no/such/backup.db: no such file"},
		{"backup is a folder", func(s *Server) { s.DatastoreRestore = "/" }, "is not a file"},
		{"join without a token", func(s *Server) { s.JoinURL = "https://198.18.1.11:6443" }, "--server needs --token"},
		{"join with a bare secret", func(s *Server) { s.JoinURL = "https://198.18.1.11:6443"; s.Token = "secret" }, "needs the full server token"},
		{"join URL", func(s *Server) { s.JoinURL = "198.18.1.11:6443"; s.Token = "secret" }, "is not a server's URL"},
		{"join and init", func(s *Server) {
			s.JoinURL, s.ClusterInit, s.Token = "https://h:6443", true, "K10"+strings.Repeat("a", 64)+"::server:x"
		}, "--server and --cluster-init cannot be used together"},
		{"etcd and a SQLite backup", func(s *Server) { s.ClusterInit = true; s.DatastoreRestore = "/etc/hostname" }, "--cluster-init and --datastore-restore cannot be used together"},
		{"restore without reset", func(s *Server) { s.ClusterResetRestorePath = "/etc/hostname" }, "--cluster-reset-restore-path needs --cluster-reset"},
		{"missing snapshot", func(s *Server) { s.ClusterReset = true; s.ClusterResetRestorePath = "/no/snap" }, "--cluster-reset-restore-path /no/snap: no such file"},
		{"snapshot cron", func(s *Server) { s.EtcdSnapshots.Schedule = "every day" }, "--etcd-snapshot-schedule-cron"},
		{"snapshot retention", func(s *Server) { s.EtcdSnapshots.Retention = 0 }, "--etcd-snapshot-retention 0"},
		{"unknown datastore", func(s *Server) { s.DatastoreEndpoint = "mongodb://u:pw@h/db" }, `unknown database "mongodb"`},
		{"datastore and cluster-init", func(s *Server) { s.DatastoreEndpoint = "postgres://u:pw@h/db"; s.ClusterInit = true }, "--cluster-init and --datastore-endpoint cannot be used together"},
		{"datastore and join", func(s *Server) {
			s.DatastoreEndpoint, s.JoinURL, s.Token = "postgres://u:pw@h/db", "https://h:6443", "K10"+strings.Repeat("a", 64)+"::server:x"
		}, "--server and --datastore-endpoint cannot be used together"},
		{"datastore TLS without endpoint", func(s *Server) { s.DatastoreTLS.CAFile = "/etc/hostname" }, "are for --datastore-endpoint"},
		{"datastore key without cert", func(s *Server) { s.DatastoreEndpoint = "https://e:2379"; s.DatastoreTLS.KeyFile = "/etc/hostname" }, "go together"},
		{"datastore cert not a cert", func(s *Server) {
			s.DatastoreEndpoint = "https://e:2379"
			s.DatastoreTLS.CertFile, s.DatastoreTLS.KeyFile = "/etc/hostname", "/etc/hostname"
		}, "give a certificate and its own key"},
		{"datastore CA missing", func(s *Server) { s.DatastoreEndpoint = "https://e:2379"; s.DatastoreTLS.CAFile = "/no/ca.crt" }, "--datastore-cafile /no/ca.crt"},
		{"negative pool", func(s *Server) { s.DatastoreEndpoint = "mysql://u:pw@tcp(h:3306)/db"; s.DatastorePool.MaxOpen = -1 }, "cannot be negative"},
		{"too small a PostgreSQL pool", func(s *Server) { s.DatastoreEndpoint = "postgres://u:pw@h/db"; s.DatastorePool.MaxOpen = 3 }, "too few for PostgreSQL: give at least 4"},
		{"data dir too long for sockets", func(s *Server) { s.DataDir = "/tmp/" + strings.Repeat("d", 80) }, "too long"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewServer()
			c.mutate(&s)
			err := s.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestValidateNormalises(t *testing.T) {
	s := NewServer()
	s.DataDir = "relative/dir"
	s.TLSSANs = []string{"a.example.com,10.0.0.1", " b.example.com "}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.DataDir, "/") {
		t.Fatalf("data dir not made absolute: %s", s.DataDir)
	}
	want := []string{"a.example.com", "10.0.0.1", "b.example.com"}
	if !reflect.DeepEqual(s.TLSSANs, want) {
		t.Fatalf("SANs %v, want %v", s.TLSSANs, want)
	}
}

func TestLoopbackHostFollowsBindAddress(t *testing.T) {
	s := NewServer()
	s.BindAddress = "198.18.0.11"
	s.HTTPSPort = 7443
	if got := s.APIServerURL(); got != "https://198.18.0.11:7443" {
		t.Fatalf("APIServerURL %s", got)
	}
	s.BindAddress = "::"
	if got := s.LoopbackHost(); got != "127.0.0.1" {
		t.Fatalf("LoopbackHost for :: is %s", got)
	}
}

func TestParseFileMode(t *testing.T) {
	for in, want := range map[string]uint32{"0600": 0o600, "644": 0o644, "0640": 0o640} {
		m, err := ParseFileMode(in)
		if err != nil || uint32(m) != want {
			t.Errorf("ParseFileMode(%q) = %o, %v", in, m, err)
		}
	}
	for _, bad := range []string{"", "rw", "0800", "01777"} {
		if _, err := ParseFileMode(bad); err == nil {
			t.Errorf("ParseFileMode(%q) accepted", bad)
		}
	}
}

func TestMergeArgs(t *testing.T) {
	defaults := []Arg{{"profiling", "false"}, {"secure-port", "6443"}, {"v", "0"}}
	got := MergeArgs(defaults, []string{"v=4", "--enable-admission-plugins=A,B", "audit-log-path=/x", "audit-log-path=/y", "anonymous-auth"})
	want := []string{
		"--profiling=false", "--secure-port=6443",
		"--v=4", "--enable-admission-plugins=A,B", "--audit-log-path=/x", "--audit-log-path=/y", "--anonymous-auth=true",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

func TestDisableTakesListsAndRepeats(t *testing.T) {
	s := NewServer()
	s.Disable = []string{"servicelb, coredns", "metrics-server"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if !s.Disabled("servicelb") || !s.Disabled("coredns") || !s.Disabled("metrics-server") || s.Disabled("local-storage") {
		t.Fatalf("disabled %v", s.Disable)
	}
}

// A cluster CIDR narrower than a /24 is fine when the user also sets the
// controller-manager's per-node size.
func TestValidateAcceptsANarrowClusterCIDRWithItsNodeMask(t *testing.T) {
	s := NewServer()
	s.ClusterCIDR = "10.42.0.0/25"
	s.ControllerManagerArgs = []string{"node-cidr-mask-size=28"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}
