package join

import (
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/kite-project/kite/server/pki"
)

// NodeRules are what a node may call itself and which addresses it may
// claim. A node's serving certificate carries exactly these, so a node
// that could claim another's name or address, or one of the API server's,
// could answer in its place: whoever holds one node must be able to be
// that node and nothing more.
type NodeRules struct {
	ClusterDomain string
	// ServiceCIDR and ClusterCIDR are the Services' and pods' addresses:
	// never a node's.
	ServiceCIDR, ClusterCIDR *net.IPNet
	// Server is the names and addresses of this API server (its serving
	// certificate's): only a node on the server's own host (a join over
	// loopback or from one of these addresses) may carry them, as the
	// server's own node does with its host name and IP.
	Server pki.SANs
}

// dns1123Subdomain is Kubernetes' rule for a Node's name.
var dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// check refuses a name or address the node may not have. source is the
// join request's remote IP.
func (r NodeRules) check(name string, ips []net.IP, source net.IP) error {
	onServerHost := source != nil && (source.IsLoopback() || slices.ContainsFunc(r.Server.IPs, source.Equal))
	if len(name) > 253 || !dns1123Subdomain.MatchString(name) {
		return refuse(http.StatusBadRequest, "node name %q is not a valid DNS name (lower-case letters, digits, '-' and '.'); pass --node-name", name)
	}
	if net.ParseIP(name) != nil {
		return refuse(http.StatusBadRequest, "node name %q is an IP address; a node is named by a host name: pass --node-name", name)
	}
	if reservedName(name, r.ClusterDomain) {
		return refuse(http.StatusBadRequest, "node name %q is reserved for the cluster's own services (localhost, kubernetes.*, *.%s); pass --node-name with another name", name, r.ClusterDomain)
	}
	if !onServerHost && slices.Contains(r.Server.DNSNames, name) {
		return refuse(http.StatusBadRequest, "node name %q is a name of the API server (its host name or a --tls-san); pass --node-name with this node's own name", name)
	}
	for _, ip := range ips {
		switch {
		case !ip.IsGlobalUnicast():
			return refuse(http.StatusBadRequest, "node IP %s is a loopback, link-local, multicast or unspecified address; pass --node-ip with an address other nodes reach this node at", ip)
		case r.ServiceCIDR != nil && r.ServiceCIDR.Contains(ip):
			return refuse(http.StatusBadRequest, "node IP %s is in the service CIDR %s; pass --node-ip with this node's own address", ip, r.ServiceCIDR)
		case r.ClusterCIDR != nil && r.ClusterCIDR.Contains(ip):
			return refuse(http.StatusBadRequest, "node IP %s is in the cluster (pod) CIDR %s; pass --node-ip with this node's own address", ip, r.ClusterCIDR)
		case !onServerHost && slices.ContainsFunc(r.Server.IPs, ip.Equal):
			return refuse(http.StatusBadRequest, "node IP %s is an address of the API server; pass --node-ip with this node's own address", ip)
		}
	}
	return nil
}

// reservedName reports whether name is one the cluster's own services
// answer to: a node by that name would shadow them.
func reservedName(name, clusterDomain string) bool {
	for _, prefix := range []string{"localhost", "kubernetes"} {
		if name == prefix || strings.HasPrefix(name, prefix+".") {
			return true
		}
	}
	return clusterDomain != "" && (name == clusterDomain || strings.HasSuffix(name, "."+clusterDomain))
}
