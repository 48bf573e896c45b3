package pki

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/kite-project/kite/pkg/joinapi"
)

// SignNodeCert issues certificate name (one of joinapi's KubeletClient,
// KubeletServing, KubeProxy) of node nodeName for the key of csrPEM: a
// kubelet client certificate the Node authorizer recognises, a kubelet
// serving certificate the API server verifies (--kubelet-certificate-
// authority, the kubelet serving CA), or kube-proxy's client certificate.
// Only the CSR's public key is used: the names come from the server's
// checks (server/join), not from the request. A serving certificate names
// the node and its checked IPs and nothing else: no loopback, no service
// name, nothing the API server answers to.
func (p PKI) SignNodeCert(name, nodeName string, ips []net.IP, csrPEM []byte, now time.Time) ([]byte, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%s: not a PEM certificate request", name)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%s: the request is not signed by its key: %w", name, err)
	}
	var spec leafSpec
	caName := ClientCA
	switch name {
	case joinapi.KubeletClient:
		spec = leafSpec{name: name, cn: nodeUserPrefix + nodeName, orgs: []string{"system:nodes"}, usage: clientUsage}
	case joinapi.KubeletServing:
		caName = KubeletServingCA
		sans := SANs{DNSNames: []string{nodeName}, IPs: ips}
		spec = leafSpec{name: name, cn: nodeName, usage: servingUsage, sans: sans}
	case joinapi.KubeProxy:
		// kube-proxy's user is the same on every node; the unit says which
		// node holds it, so that a removed node's is refused too.
		spec = leafSpec{name: name, cn: kubeProxyUser, units: []string{nodeUnitPrefix + nodeName}, usage: clientUsage}
	default:
		return nil, fmt.Errorf("no certificate %q for nodes", name)
	}
	ca, err := loadPair(p.Cert(caName), p.Key(caName))
	if err != nil {
		return nil, err
	}
	if ca == nil {
		return nil, &PKIError{Path: p.Cert(caName), Err: os.ErrNotExist}
	}
	cert, err := sign(spec, ca, csr.PublicKey, now)
	if err != nil {
		return nil, err
	}
	return encodeCert(cert), nil
}

// VerifyClient checks that cert was issued by the client CA for client
// authentication, as the API server would, and returns its user name.
func (p PKI) VerifyClient(cert *x509.Certificate, intermediates []*x509.Certificate, now time.Time) (string, error) {
	caPEM, err := os.ReadFile(p.Cert(ClientCA))
	if err != nil {
		return "", err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return "", errors.New("client CA unreadable")
	}
	inter := x509.NewCertPool()
	for _, c := range intermediates {
		inter.AddCert(c)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return "", err
	}
	return cert.Subject.CommonName, nil
}

const (
	nodeUserPrefix = "system:node:"
	kubeProxyUser  = "system:kube-proxy"
	nodeUnitPrefix = "kite-node:"
)

// NodeOf returns the node a certificate was issued to by SignNodeCert (its
// kubelet or kube-proxy client certificate), "" for any other. It reads
// only the subject: callers that grant something must verify the chain.
func NodeOf(cert *x509.Certificate) string {
	if node, ok := strings.CutPrefix(cert.Subject.CommonName, nodeUserPrefix); ok {
		return node
	}
	if cert.Subject.CommonName == kubeProxyUser {
		for _, u := range cert.Subject.OrganizationalUnit {
			if node, ok := strings.CutPrefix(u, nodeUnitPrefix); ok {
				return node
			}
		}
	}
	return ""
}

// IssuedAt is when kite issued cert (to the second).
func IssuedAt(cert *x509.Certificate) time.Time {
	return cert.NotBefore.Add(backdate)
}
