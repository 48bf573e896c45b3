package join

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/kite-project/kite/server/pki"
)

func testRules() NodeRules {
	_, services, _ := net.ParseCIDR("10.43.0.0/16")
	_, pods, _ := net.ParseCIDR("10.42.0.0/16")
	return NodeRules{
		ClusterDomain: "cluster.local",
		ServiceCIDR:   services,
		ClusterCIDR:   pods,
		Server: pki.APIServerSANs(pki.SANInput{
			Hostname:      "kite-server",
			NodeIPs:       []net.IP{net.ParseIP("198.18.1.11")},
			ServiceIP:     net.ParseIP("10.43.0.1"),
			ClusterDomain: "cluster.local",
			Extra:         []string{"api.example.com", "203.0.113.7"},
		}),
	}
}

func TestNodeNamesAndAddresses(t *testing.T) {
	remote := net.ParseIP("198.18.1.12")
	ip := func(s string) []net.IP { return []net.IP{net.ParseIP(s)} }
	for _, c := range []struct {
		name   string
		ips    []net.IP
		source net.IP
		want   string // "" = accepted
	}{
		{"pi-07.lan", ip("198.18.1.12"), remote, ""},
		{"edge-1", ip("192.168.1.20"), remote, ""},
		{"edge-1", ip("fd00::12"), remote, ""},
		// The server's own node, on its host: its host name and IP.
		{"kite-server", ip("198.18.1.11"), net.ParseIP("127.0.0.1"), ""},
		{"kite-server", ip("198.18.1.11"), net.ParseIP("198.18.1.11"), ""},

		{"Edge_1", ip("198.18.1.12"), remote, "not a valid DNS name"},
		{"a b", ip("198.18.1.12"), remote, "not a valid DNS name"},
		{"", ip("198.18.1.12"), remote, "not a valid DNS name"},
		{strings.Repeat("a.", 127) + "ab", ip("198.18.1.12"), remote, "not a valid DNS name"},
		{"10.0.0.2", ip("198.18.1.12"), remote, "is an IP address"},
		{"localhost", ip("198.18.1.12"), remote, "reserved"},
		{"kubernetes", ip("198.18.1.12"), remote, "reserved"},
		{"kubernetes.default.svc", ip("198.18.1.12"), remote, "reserved"},
		{"kubernetes.default.svc.cluster.local", ip("198.18.1.12"), remote, "reserved"},
		{"db.prod.svc.cluster.local", ip("198.18.1.12"), remote, "reserved"},
		{"cluster.local", ip("198.18.1.12"), remote, "reserved"},
		{"kite-server", ip("198.18.1.12"), remote, "a name of the API server"},
		{"api.example.com", ip("198.18.1.12"), remote, "a name of the API server"},
		// Even on the server's host, never a service name.
		{"kubernetes", ip("198.18.1.11"), net.ParseIP("127.0.0.1"), "reserved"},

		{"edge-1", ip("127.0.0.1"), remote, "loopback"},
		{"edge-1", ip("::1"), remote, "loopback"},
		{"edge-1", ip("0.0.0.0"), remote, "loopback"},
		{"edge-1", ip("169.254.1.1"), remote, "loopback"},
		{"edge-1", ip("224.0.0.1"), remote, "loopback"},
		{"edge-1", ip("10.43.0.1"), remote, "service CIDR"},
		{"edge-1", ip("10.43.0.10"), remote, "service CIDR"},
		{"edge-1", ip("10.42.3.4"), remote, "cluster (pod) CIDR"},
		{"edge-1", ip("198.18.1.11"), remote, "an address of the API server"},
		{"edge-1", ip("203.0.113.7"), remote, "an address of the API server"},
		{"edge-1", []net.IP{net.ParseIP("198.18.1.12"), net.ParseIP("127.0.0.1")}, remote, "loopback"},
		{"kite-server", ip("127.0.0.1"), net.ParseIP("127.0.0.1"), "loopback"},
	} {
		err := testRules().check(c.name, c.ips, c.source)
		if c.want == "" {
			if err != nil {
				t.Errorf("%q %v from %v refused: %v", c.name, c.ips, c.source, err)
			}
			continue
		}
		rf, ok := err.(*refusal)
		if !ok || rf.status != http.StatusBadRequest || !strings.Contains(rf.msg, c.want) {
			t.Errorf("%q %v from %v: %v, want a refusal saying %q", c.name, c.ips, c.source, err, c.want)
		}
	}
}

// A refused name or address stops the join before any certificate is
// signed, and says why.
func TestJoinRefusesAReservedName(t *testing.T) {
	h, _ := testHandler(t)
	h.Rules = testRules()
	for name, want := range map[string]string{
		"kubernetes.default.svc.cluster.local": "reserved",
		"10.0.0.2":                             "is an IP address",
	} {
		w, msg := post(h, "server:server-secret", joinRequest(t, name, "a-node-password-of-some-length"), "198.18.1.12")
		if w.Code != http.StatusBadRequest || !strings.Contains(msg, want) {
			t.Errorf("node %q: %d %q, want 400 saying %q", name, w.Code, msg, want)
		}
	}
}
