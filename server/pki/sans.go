package pki

import (
	"net"
	"slices"
	"strings"
)

// SANInput is what the API server's serving certificate must cover.
type SANInput struct {
	Hostname      string
	NodeIPs       []net.IP
	ServiceIP     net.IP // first address of the service CIDR
	ClusterDomain string
	Extra         []string // --tls-san: IPs or DNS names
}

// APIServerSANs lists every name clients may use to reach the API server:
// on this host, from pods (the kubernetes Service), and from other hosts.
func APIServerSANs(in SANInput) SANs {
	var s SANs
	addDNS := func(name string) {
		name = strings.ToLower(name)
		if name != "" && !slices.Contains(s.DNSNames, name) {
			s.DNSNames = append(s.DNSNames, name)
		}
	}
	addIP := func(ip net.IP) {
		if ip != nil && !slices.ContainsFunc(s.IPs, ip.Equal) {
			s.IPs = append(s.IPs, ip)
		}
	}
	addDNS(in.Hostname)
	addDNS("localhost")
	for _, n := range []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + in.ClusterDomain} {
		addDNS(n)
	}
	addIP(net.ParseIP("127.0.0.1"))
	addIP(net.ParseIP("::1"))
	for _, ip := range in.NodeIPs {
		addIP(ip)
	}
	addIP(in.ServiceIP)
	for _, e := range in.Extra {
		if ip := net.ParseIP(e); ip != nil {
			addIP(ip)
		} else {
			addDNS(e)
		}
	}
	return s
}

// withLoopback is sans with localhost, 127.0.0.1 and ::1.
func withLoopback(in SANs) SANs {
	out := SANs{DNSNames: slices.Clone(in.DNSNames), IPs: slices.Clone(in.IPs)}
	if !slices.Contains(out.DNSNames, "localhost") {
		out.DNSNames = append(out.DNSNames, "localhost")
	}
	for _, ip := range []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")} {
		if !slices.ContainsFunc(out.IPs, ip.Equal) {
			out.IPs = append(out.IPs, ip)
		}
	}
	return out
}
