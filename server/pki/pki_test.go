package pki

import (
	"bytes"
	"crypto/x509"
	"github.com/kite-project/kite/pkg/certutil"
	"github.com/kite-project/kite/pkg/joinapi"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func testSANs(extra ...string) SANs {
	return APIServerSANs(SANInput{
		Hostname:      "Edge-1",
		NodeIPs:       []net.IP{net.ParseIP("198.18.0.11")},
		ServiceIP:     net.ParseIP("10.43.0.1"),
		ClusterDomain: "cluster.local",
		Extra:         extra,
	})
}

// snapshot returns the content of every file in dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func loadCert(t *testing.T, p PKI, name string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(p.Cert(name))
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCert(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pool(t *testing.T, p PKI, ca string) *x509.CertPool {
	cp := x509.NewCertPool()
	cp.AddCert(loadCert(t, p, ca))
	return cp
}

func TestEnsureMakesAWorkingPKI(t *testing.T) {
	p := PKI{Dir: filepath.Join(t.TempDir(), "tls")}
	if err := p.Ensure(testSANs("kite.example.com", "203.0.113.7"), now); err != nil {
		t.Fatal(err)
	}

	// Every private key is 0600, every file exists.
	for _, name := range []string{ServerCA, ClientCA, RequestHeaderCA, KubeletServingCA, APIServerServing, Admin, ControllerManager, Scheduler, APIServerKubelet, AuthProxy} {
		st, err := os.Stat(p.Key(name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", p.Key(name), st.Mode().Perm())
		}
		if _, err := os.Stat(p.Cert(name)); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := os.Stat(p.ServiceAccountKeyFile()); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("service account key: %v %v", st, err)
	}

	// The serving certificate verifies for every name a client may use.
	serving := loadCert(t, p, APIServerServing)
	for _, name := range []string{"edge-1", "localhost", "kubernetes", "kubernetes.default.svc.cluster.local", "kite.example.com", "127.0.0.1", "198.18.0.11", "10.43.0.1", "203.0.113.7"} {
		_, err := serving.Verify(x509.VerifyOptions{
			DNSName:     name,
			Roots:       pool(t, p, ServerCA),
			CurrentTime: now,
			KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			t.Errorf("serving certificate does not verify for %s: %v", name, err)
		}
	}

	// Client certificates verify against the client CA, with the identities
	// RBAC and the API server rely on.
	idents := map[string][2]string{
		Admin:             {"system:admin", "system:masters"},
		ControllerManager: {"system:kube-controller-manager", ""},
		Scheduler:         {"system:kube-scheduler", ""},
		APIServerKubelet:  {"system:kube-apiserver", "system:masters"},
	}
	for name, id := range idents {
		c := loadCert(t, p, name)
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool(t, p, ClientCA), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if c.Subject.CommonName != id[0] || strings.Join(c.Subject.Organization, ",") != id[1] {
			t.Errorf("%s subject %v", name, c.Subject)
		}
	}
	proxy := loadCert(t, p, AuthProxy)
	if _, err := proxy.Verify(x509.VerifyOptions{Roots: pool(t, p, RequestHeaderCA), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("auth proxy: %v", err)
	}
	if _, err := proxy.Verify(x509.VerifyOptions{Roots: pool(t, p, ClientCA), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("the front proxy certificate must not be trusted as a plain client")
	}
}

func TestEnsureReusesOnRestart(t *testing.T) {
	p := PKI{Dir: t.TempDir()}
	if err := p.Ensure(testSANs(), now); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, p.Dir)
	if err := p.Ensure(testSANs(), now.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, p.Dir)
	for name, content := range before {
		if after[name] != content {
			t.Errorf("%s changed on restart", name)
		}
	}
}

// A cluster made by a kite without the kubelet serving CA gets one on its
// next start, and keeps everything else: its nodes and clients go on.
func TestUpgradeAddsTheKubeletServingCA(t *testing.T) {
	p := PKI{Dir: t.TempDir()}
	if err := p.Ensure(testSANs(), now); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p.Cert(KubeletServingCA), p.Key(KubeletServingCA)} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, p.Dir)
	if err := p.Ensure(testSANs(), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, p.Dir)
	for name, content := range before {
		if after[name] != content {
			t.Errorf("%s changed on upgrade", name)
		}
	}
	ca := loadCert(t, p, KubeletServingCA)
	if !ca.IsCA || bytes.Equal(ca.RawSubjectPublicKeyInfo, loadCert(t, p, ServerCA).RawSubjectPublicKeyInfo) {
		t.Fatal("no kubelet serving CA of its own")
	}
	if st, err := os.Stat(p.Key(KubeletServingCA)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kubelet serving CA key: %v %v, want 0600", st, err)
	}
}

func TestNewSANReissuesOnlyTheServingCert(t *testing.T) {
	p := PKI{Dir: t.TempDir()}
	if err := p.Ensure(testSANs(), now); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, p.Dir)
	if err := p.Ensure(testSANs("new.example.com"), now); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, p.Dir)
	for name := range before {
		changed := before[name] != after[name]
		serving := strings.HasPrefix(name, APIServerServing+".")
		if changed != serving {
			t.Errorf("%s changed=%v", name, changed)
		}
	}
	if !strings.Contains(strings.Join(loadCert(t, p, APIServerServing).DNSNames, " "), "new.example.com") {
		t.Fatal("new SAN missing")
	}
}

func TestLeafRenewedNearExpiryWithSameCA(t *testing.T) {
	p := PKI{Dir: t.TempDir()}
	if err := p.Ensure(testSANs(), now); err != nil {
		t.Fatal(err)
	}
	oldAdmin := loadCert(t, p, Admin)
	oldCA := snapshot(t, p.Dir)[ServerCA+".crt"]
	later := now.Add(300 * 24 * time.Hour)
	if err := p.Ensure(testSANs(), later); err != nil {
		t.Fatal(err)
	}
	newAdmin := loadCert(t, p, Admin)
	if newAdmin.SerialNumber.Cmp(oldAdmin.SerialNumber) == 0 {
		t.Fatal("certificate 65 days from expiry was not renewed")
	}
	if !newAdmin.NotAfter.After(later.Add(300 * 24 * time.Hour)) {
		t.Fatalf("renewed certificate expires %v", newAdmin.NotAfter)
	}
	if snapshot(t, p.Dir)[ServerCA+".crt"] != oldCA {
		t.Fatal("CA changed on renewal")
	}
}

func TestBadFilesAreReportedNotReplaced(t *testing.T) {
	cases := map[string]func(p PKI){
		"corrupt CA certificate": func(p PKI) { os.WriteFile(p.Cert(ServerCA), []byte("garbage"), 0o644) },
		"corrupt leaf key": func(p PKI) {
			os.WriteFile(p.Key(Admin), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
		},
		"missing key":    func(p PKI) { os.Remove(p.Key(Scheduler)) },
		"mismatched key": func(p PKI) { b, _ := os.ReadFile(p.Key(ClientCA)); os.WriteFile(p.Key(Admin), b, 0o600) },
		"corrupt SA key": func(p PKI) { os.WriteFile(p.ServiceAccountKeyFile(), []byte("x"), 0o600) },
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			p := PKI{Dir: t.TempDir()}
			if err := p.Ensure(testSANs(), now); err != nil {
				t.Fatal(err)
			}
			breakIt(p)
			before := snapshot(t, p.Dir)
			err := p.Ensure(testSANs(), now)
			if err == nil {
				t.Fatal("accepted")
			}
			if _, ok := err.(*PKIError); !ok || !strings.Contains(err.Error(), p.Dir) || !strings.Contains(err.Error(), "restore") {
				t.Fatalf("error does not name the file and the fix: %v", err)
			}
			after := snapshot(t, p.Dir)
			if len(after) != len(before) {
				t.Fatalf("files added or removed: %d -> %d", len(before), len(after))
			}
			for f, c := range before {
				if after[f] != c {
					t.Errorf("%s rewritten on bad input", f)
				}
			}
		})
	}
}

func TestSANsDeduplicated(t *testing.T) {
	s := APIServerSANs(SANInput{Hostname: "kubernetes", NodeIPs: []net.IP{net.ParseIP("127.0.0.1")}, ClusterDomain: "cluster.local", Extra: []string{"127.0.0.1", "kubernetes"}})
	seen := map[string]bool{}
	for _, n := range s.DNSNames {
		if seen[n] {
			t.Errorf("duplicate %s", n)
		}
		seen[n] = true
	}
	if len(s.IPs) != 2 {
		t.Errorf("IPs %v", s.IPs)
	}
}

func TestSignNodeCerts(t *testing.T) {
	p := PKI{Dir: t.TempDir()}
	if err := p.Ensure(testSANs(), now); err != nil {
		t.Fatal(err)
	}
	key, _, err := certutil.LoadOrNewKey(filepath.Join(t.TempDir(), "absent.key"))
	if err != nil {
		t.Fatal(err)
	}
	// The request asks for a name of its own: the server ignores it.
	csr, err := certutil.CSR(key, "system:admin")
	if err != nil {
		t.Fatal(err)
	}
	ips := []net.IP{net.ParseIP("198.18.0.11")}
	signed := map[string]*x509.Certificate{}
	for _, name := range []string{joinapi.KubeletClient, joinapi.KubeletServing, joinapi.KubeProxy} {
		certPEM, err := p.SignNodeCert(name, "edge-1", ips, csr, now)
		if err != nil {
			t.Fatal(name, err)
		}
		cert, err := certutil.ParseCert(certPEM)
		if err != nil {
			t.Fatal(err)
		}
		if !certutil.Matches(cert, key) {
			t.Fatalf("%s is not for the requested key", name)
		}
		signed[name] = cert
	}
	client := signed[joinapi.KubeletClient]
	if client.Subject.CommonName != "system:node:edge-1" || strings.Join(client.Subject.Organization, ",") != "system:nodes" {
		t.Fatalf("kubelet client subject %v: the Node authorizer needs system:node:<name> in system:nodes", client.Subject)
	}
	if user, err := p.VerifyClient(client, nil, now); err != nil || user != "system:node:edge-1" {
		t.Fatalf("VerifyClient: %q %v", user, err)
	}
	serving := signed[joinapi.KubeletServing]
	for _, name := range []string{"edge-1", "198.18.0.11"} {
		if _, err := serving.Verify(x509.VerifyOptions{DNSName: name, Roots: pool(t, p, KubeletServingCA), CurrentTime: now}); err != nil {
			t.Errorf("kubelet serving cert for %s: %v", name, err)
		}
	}
	// A node's serving certificate (and key) is held by the node, which may
	// be hostile: it must never pass as the API server, which clients
	// check against the server CA, at any name they reach it by.
	for _, name := range []string{"edge-1", "127.0.0.1", "localhost", "10.43.0.1", "kubernetes.default.svc"} {
		if _, err := serving.Verify(x509.VerifyOptions{DNSName: name, Roots: pool(t, p, ServerCA), CurrentTime: now}); err == nil {
			t.Errorf("a kubelet serving certificate passes as the API server at %s", name)
		}
	}
	if len(serving.DNSNames) != 1 || len(serving.IPAddresses) != 1 {
		t.Errorf("kubelet serving cert names %v %v, want only the node's name and its IP", serving.DNSNames, serving.IPAddresses)
	}
	if _, err := p.VerifyClient(serving, nil, now); err == nil {
		t.Fatal("a serving certificate passed as a client certificate")
	}
	if signed[joinapi.KubeProxy].Subject.CommonName != "system:kube-proxy" {
		t.Fatal("kube-proxy identity")
	}
	if _, err := p.SignNodeCert("client-admin", "edge-1", ips, csr, now); err == nil {
		t.Fatal("signed a certificate nodes must not get")
	}
	if _, err := p.SignNodeCert(joinapi.KubeProxy, "edge-1", ips, []byte("junk"), now); err == nil {
		t.Fatal("signed junk")
	}
}

func TestEnsureEtcd(t *testing.T) {
	p := PKI{Dir: t.TempDir()}
	if err := p.Ensure(testSANs(), now); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, p.Dir)
	sans := SANs{DNSNames: []string{"edge-1"}, IPs: []net.IP{net.ParseIP("198.18.0.11")}}
	if err := p.EnsureEtcd(sans, now); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, p.Dir)
	for name, content := range before {
		if after[name] != content {
			t.Errorf("EnsureEtcd changed %s", name)
		}
	}
	for _, name := range []string{EtcdServerCA, EtcdPeerCA, EtcdServing, EtcdPeer, EtcdClient} {
		if st, err := os.Stat(p.Key(name)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want a 0600 key", name, st, err)
		}
	}
	// etcd's serving and peer certificates verify for the server's
	// addresses and loopback, as servers and as clients.
	for name, ca := range map[string]string{EtcdServing: EtcdServerCA, EtcdPeer: EtcdPeerCA} {
		c := loadCert(t, p, name)
		for _, host := range []string{"198.18.0.11", "127.0.0.1", "localhost", "edge-1"} {
			if _, err := c.Verify(x509.VerifyOptions{DNSName: host, Roots: pool(t, p, ca), CurrentTime: now}); err != nil {
				t.Errorf("%s for %s: %v", name, host, err)
			}
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool(t, p, ca), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s as a client: %v", name, err)
		}
	}
	// etcd's client certificate is trusted by etcd only: not by the API
	// server (client CA); and no Kubernetes client certificate (a node's
	// included) is trusted by etcd.
	client := loadCert(t, p, EtcdClient)
	if _, err := client.Verify(x509.VerifyOptions{Roots: pool(t, p, EtcdServerCA), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("etcd client: %v", err)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: pool(t, p, ClientCA), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("the etcd client certificate is trusted as a Kubernetes client")
	}
	for _, name := range []string{Admin, APIServerKubelet} {
		if _, err := loadCert(t, p, name).Verify(x509.VerifyOptions{Roots: pool(t, p, EtcdServerCA), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
			t.Errorf("%s is trusted by etcd", name)
		}
	}
	// A restart keeps everything.
	if err := p.EnsureEtcd(sans, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	again := snapshot(t, p.Dir)
	for name, content := range after {
		if again[name] != content {
			t.Errorf("second EnsureEtcd changed %s", name)
		}
	}
}

func TestSharedFilesMakeASecondServer(t *testing.T) {
	first := PKI{Dir: t.TempDir()}
	if err := first.Ensure(testSANs(), now); err != nil {
		t.Fatal(err)
	}
	if err := first.EnsureEtcd(SANs{}, now); err != nil {
		t.Fatal(err)
	}
	files, err := first.ReadShared()
	if err != nil {
		t.Fatal(err)
	}
	second := PKI{Dir: filepath.Join(t.TempDir(), "tls")}
	if err := second.WriteShared(files); err != nil {
		t.Fatal(err)
	}
	for _, name := range SharedFiles() {
		st, err := os.Stat(filepath.Join(second.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if want := os.FileMode(0o600); !strings.HasSuffix(name, ".crt") && st.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", name, st.Mode().Perm(), want)
		}
	}
	sans := SANs{IPs: []net.IP{net.ParseIP("198.18.1.12")}}
	if err := second.Ensure(APIServerSANs(SANInput{NodeIPs: sans.IPs, ClusterDomain: "cluster.local"}), now); err != nil {
		t.Fatal(err)
	}
	if err := second.EnsureEtcd(sans, now); err != nil {
		t.Fatal(err)
	}
	// The second server's own certificates are trusted by the first's CAs.
	for name, ca := range map[string]string{APIServerServing: ServerCA, Admin: ClientCA, EtcdPeer: EtcdPeerCA, EtcdClient: EtcdServerCA} {
		if _, err := loadCert(t, second, name).Verify(x509.VerifyOptions{Roots: pool(t, first, ca), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("the second server's %s is not trusted by the first's %s: %v", name, ca, err)
		}
	}
	if a, b := snapshot(t, first.Dir)[ServiceAccountKey], snapshot(t, second.Dir)[ServiceAccountKey]; a != b {
		t.Error("the service-account key differs")
	}

	// A data dir of another cluster is refused, and left as it was.
	other := PKI{Dir: t.TempDir()}
	if err := other.Ensure(testSANs(), now); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, other.Dir)
	if err := other.WriteShared(files); err == nil || !strings.Contains(err.Error(), "belongs to another cluster") {
		t.Errorf("another cluster's PKI: %v", err)
	}
	for name, content := range snapshot(t, other.Dir) {
		if before[name] != content {
			t.Errorf("%s changed", name)
		}
	}
	// Only the shared files are taken.
	files["../../etc/passwd"] = "x"
	if err := (PKI{Dir: t.TempDir()}).WriteShared(files); err == nil {
		t.Error("a file that is not shared was taken")
	}
}
