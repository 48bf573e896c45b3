package pki

import (
	"net"
	"os"
	"time"
)

// Names of a node's certificates, in the node's own TLS folder.
const (
	KubeletClient  = "kubelet-client"  // the kubelet's identity: system:node:<name>
	KubeletServing = "kubelet-serving" // the kubelet's HTTPS endpoint
	KubeProxy      = "kube-proxy-client"
)

// EnsureNodeCerts issues, into dir, the certificates of node nodeName from
// the CAs in p.Dir: a kubelet client certificate the Node authorizer
// recognises, a kubelet serving certificate for the API server to verify,
// and kube-proxy's client certificate. Like Ensure, it keeps what is
// current and reissues what is not.
func (p PKI) EnsureNodeCerts(dir, nodeName string, ips []net.IP, now time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	serverCA, err := loadPair(p.Cert(ServerCA), p.Key(ServerCA))
	if err != nil {
		return err
	}
	clientCA, err := loadPair(p.Cert(ClientCA), p.Key(ClientCA))
	if err != nil {
		return err
	}
	if serverCA == nil || clientCA == nil {
		return &PKIError{Path: p.Dir, Err: os.ErrNotExist}
	}
	node := PKI{Dir: dir}
	serving := SANs{DNSNames: []string{nodeName, "localhost"}, IPs: append([]net.IP{net.ParseIP("127.0.0.1")}, ips...)}
	for _, s := range []struct {
		spec leafSpec
		ca   *pair
	}{
		{leafSpec{name: KubeletClient, cn: "system:node:" + nodeName, orgs: []string{"system:nodes"}, usage: clientUsage}, clientCA},
		{leafSpec{name: KubeletServing, cn: nodeName, usage: servingUsage, sans: serving}, serverCA},
		{leafSpec{name: KubeProxy, cn: "system:kube-proxy", usage: clientUsage}, clientCA},
	} {
		if err := node.ensureLeaf(s.spec, s.ca, now); err != nil {
			return err
		}
	}
	return nil
}
