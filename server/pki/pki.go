// Package pki makes, on first start, and checks, on every start, the server's
// certificate authorities and certificates under <data-dir>/server/tls.
//
// Four CAs: the server CA signs the API server's serving certificate
// (clients pin it), the client CA signs client certificates (the API server
// trusts it), the request-header CA signs the front proxy's client
// certificate (for API aggregation), and the kubelet serving CA signs the
// nodes' kubelet serving certificates. The last is its own CA so that a
// node's certificate, which any node may hold, is never trusted as the API
// server: only the API server (and metrics-server) trusts it, and only for
// kubelets. Leaf certificates are reissued when they near expiry, lack
// a SAN the server now needs, or were not signed by the current CA; a file
// that exists but cannot be read is an error and is never replaced.
package pki

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Names of the CAs and certificates; each is <name>.crt and <name>.key.
const (
	ServerCA        = "server-ca"
	ClientCA        = "client-ca"
	RequestHeaderCA = "request-header-ca"
	// KubeletServingCA signs kubelets' serving certificates, and nothing
	// else; it is added to a cluster made before it existed at its first
	// start on a kite that knows it.
	KubeletServingCA = "kubelet-serving-ca"

	APIServerServing  = "serving-kube-apiserver"
	Admin             = "client-admin"
	ControllerManager = "client-controller-manager"
	Scheduler         = "client-scheduler"
	APIServerKubelet  = "client-kube-apiserver" // the API server's client certificate for kubelets
	AuthProxy         = "client-auth-proxy"     // the front proxy's client certificate

	ServiceAccountKey = "service-account.key"

	// Embedded etcd's (EnsureEtcd): its clients and members present
	// certificates of their own CAs, trusted by etcd alone, so that no
	// Kubernetes credential reaches the datastore.
	EtcdServerCA = "etcd-server-ca" // etcd's serving certificates and its clients'
	EtcdPeerCA   = "etcd-peer-ca"   // members' certificates to each other
	EtcdServing  = "etcd-server"
	EtcdPeer     = "etcd-peer"
	EtcdClient   = "etcd-client" // the API server's, and kite's own tools'
)

// User names and groups the certificates carry.
const (
	AuthProxyUser = "system:auth-proxy"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	LeafValidity = 365 * 24 * time.Hour
	renewBefore  = 90 * 24 * time.Hour
	// backdate is how far before its issue a leaf certificate is valid
	// from: a node whose clock is a little behind accepts it.
	backdate = time.Hour
)

// SANs are the names the API server's serving certificate must carry.
type SANs struct {
	DNSNames []string
	IPs      []net.IP
}

// PKI locates the files of one server's PKI.
type PKI struct {
	Dir string
}

func (p PKI) Cert(name string) string { return filepath.Join(p.Dir, name+".crt") }
func (p PKI) Key(name string) string  { return filepath.Join(p.Dir, name+".key") }

// ServiceAccountKeyFile is the key that signs service account tokens.
func (p PKI) ServiceAccountKeyFile() string { return filepath.Join(p.Dir, ServiceAccountKey) }

type leafSpec struct {
	name  string
	ca    string
	cn    string
	orgs  []string
	units []string // not read by Kubernetes; kite marks a node's certificates with it
	usage x509.ExtKeyUsage
	// alsoClient: the certificate serves and is a client too (etcd's: a
	// member dials its peers, and its own gRPC gateway, with it).
	alsoClient bool
	sans       SANs
}

const (
	clientUsage  = x509.ExtKeyUsageClientAuth
	servingUsage = x509.ExtKeyUsageServerAuth
)

func leafSpecs(apiserver SANs) []leafSpec {
	client := clientUsage
	return []leafSpec{
		{name: APIServerServing, ca: ServerCA, cn: "kube-apiserver", usage: servingUsage, sans: apiserver},
		{name: Admin, ca: ClientCA, cn: "system:admin", orgs: []string{"system:masters"}, usage: client},
		{name: ControllerManager, ca: ClientCA, cn: "system:kube-controller-manager", usage: client},
		{name: Scheduler, ca: ClientCA, cn: "system:kube-scheduler", usage: client},
		{name: APIServerKubelet, ca: ClientCA, cn: "system:kube-apiserver", orgs: []string{"system:masters"}, usage: client},
		{name: AuthProxy, ca: RequestHeaderCA, cn: AuthProxyUser, usage: client},
	}
}

// Ensure loads the PKI in p.Dir, making whatever is missing. now is the
// clock, for tests of renewal.
func (p PKI) Ensure(apiserver SANs, now time.Time) error {
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return err
	}
	cas := map[string]*pair{}
	for _, name := range []string{ServerCA, ClientCA, RequestHeaderCA, KubeletServingCA} {
		ca, err := p.ensureCA(name, now)
		if err != nil {
			return err
		}
		cas[name] = ca
	}
	for _, spec := range leafSpecs(apiserver) {
		if err := p.ensureLeaf(spec, cas[spec.ca], now); err != nil {
			return err
		}
	}
	return ensureServiceAccountKey(p.ServiceAccountKeyFile())
}

// EnsureEtcd loads or makes embedded etcd's CAs and this server's etcd
// certificates; sans are the names and addresses of this server
// (localhost and 127.0.0.1 are added).
func (p PKI) EnsureEtcd(sans SANs, now time.Time) error {
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return err
	}
	sans = withLoopback(sans)
	cas := map[string]*pair{}
	for _, name := range []string{EtcdServerCA, EtcdPeerCA} {
		ca, err := p.ensureCA(name, now)
		if err != nil {
			return err
		}
		cas[name] = ca
	}
	for _, spec := range []leafSpec{
		{name: EtcdServing, ca: EtcdServerCA, cn: "etcd-server", usage: servingUsage, alsoClient: true, sans: sans},
		{name: EtcdPeer, ca: EtcdPeerCA, cn: "etcd-peer", usage: servingUsage, alsoClient: true, sans: sans},
		{name: EtcdClient, ca: EtcdServerCA, cn: "etcd-client", usage: clientUsage},
	} {
		if err := p.ensureLeaf(spec, cas[spec.ca], now); err != nil {
			return err
		}
	}
	return nil
}

func (p PKI) ensureCA(name string, now time.Time) (*pair, error) {
	existing, err := loadPair(p.Cert(name), p.Key(name))
	if err != nil {
		return nil, err
	}
	if existing != nil {
		if !existing.cert.IsCA {
			return nil, &PKIError{Path: p.Cert(name), Err: fmt.Errorf("not a CA certificate")}
		}
		if err := os.Chmod(p.Key(name), keyMode); err != nil {
			return nil, err
		}
		return existing, nil
	}
	key, err := newECKey()
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("kite-%s@%d", name, now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &pair{cert: cert, key: key}
	return ca, writePair(p.Cert(name), p.Key(name), ca)
}

func (p PKI) ensureLeaf(spec leafSpec, ca *pair, now time.Time) error {
	existing, err := loadPair(p.Cert(spec.name), p.Key(spec.name))
	if err != nil {
		return err
	}
	if existing != nil && leafIsCurrent(existing.cert, spec, ca.cert, now) {
		return os.Chmod(p.Key(spec.name), keyMode)
	}
	key, err := newECKey()
	if err != nil {
		return err
	}
	cert, err := sign(spec, ca, key.Public(), now)
	if err != nil {
		return err
	}
	return writePair(p.Cert(spec.name), p.Key(spec.name), &pair{cert: cert, key: key})
}

// sign issues the leaf certificate spec for the public key pub.
func sign(spec leafSpec, ca *pair, pub crypto.PublicKey, now time.Time) (*x509.Certificate, error) {
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.cn, Organization: spec.orgs, OrganizationalUnit: spec.units},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(LeafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  extKeyUsage(spec),
		DNSNames:     spec.sans.DNSNames,
		IPAddresses:  spec.sans.IPs,
	}
	der, err := x509.CreateCertificate(nil, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func extKeyUsage(spec leafSpec) []x509.ExtKeyUsage {
	if spec.alsoClient {
		return []x509.ExtKeyUsage{spec.usage, clientUsage}
	}
	return []x509.ExtKeyUsage{spec.usage}
}

// leafIsCurrent reports whether cert can be kept as it is.
func leafIsCurrent(cert *x509.Certificate, spec leafSpec, ca *x509.Certificate, now time.Time) bool {
	if cert.CheckSignatureFrom(ca) != nil {
		return false
	}
	if now.Add(renewBefore).After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return false
	}
	if cert.Subject.CommonName != spec.cn || !slices.Equal(cert.Subject.Organization, spec.orgs) ||
		!slices.Equal(cert.ExtKeyUsage, extKeyUsage(spec)) {
		return false
	}
	for _, name := range spec.sans.DNSNames {
		if !slices.Contains(cert.DNSNames, name) {
			return false
		}
	}
	for _, ip := range spec.sans.IPs {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}
