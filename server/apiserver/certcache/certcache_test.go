package certcache

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"slices"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
)

type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, name string) ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca{cert, key}
}

func (c ca) client(t *testing.T, cn string, orgs []string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func request(certs ...*x509.Certificate) *http.Request {
	req, _ := http.NewRequest("GET", "https://kite/api", nil)
	if certs != nil {
		req.TLS = &tls.ConnectionState{PeerCertificates: certs}
	}
	return req
}

// counting counts the requests that reach upstream's authenticator.
type counting struct {
	authenticator.Request
	calls int
}

func (c *counting) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	c.calls++
	return c.Request.AuthenticateRequest(req)
}

// setup: a Cache over upstream's x509 authenticator trusting one CA, with
// a clock the test moves.
func setup(t *testing.T) (ca, *Cache, *counting, *time.Time) {
	root := newCA(t, "client-ca")
	pool := x509.NewCertPool()
	pool.AddCert(root.cert)
	inner := &counting{Request: x509request.New(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, x509request.CommonNameUserConversion)}
	c := New(inner)
	now := time.Now()
	c.now = func() time.Time { return now }
	return root, c, inner, &now
}

func TestAnswersLikeUpstreamAndVerifiesOnce(t *testing.T) {
	root, c, inner, _ := setup(t)
	admin := root.client(t, "system:admin", []string{"system:masters"}, time.Now().Add(time.Hour))
	for i := 0; i < 3; i++ {
		resp, ok, err := c.AuthenticateRequest(request(admin))
		if err != nil || !ok {
			t.Fatalf("request %d: ok=%v err=%v", i, ok, err)
		}
		if resp.User.GetName() != "system:admin" || !slices.Equal(resp.User.GetGroups(), []string{"system:masters"}) {
			t.Fatalf("request %d: user %q groups %v", i, resp.User.GetName(), resp.User.GetGroups())
		}
		if len(resp.User.GetExtra()["authentication.kubernetes.io/credential-id"]) != 1 {
			t.Fatalf("request %d: extra %v, want upstream's credential id", i, resp.User.GetExtra())
		}
	}
	if inner.calls != 1 {
		t.Fatalf("the chain was verified %d times for 3 requests, want 1", inner.calls)
	}
	other := root.client(t, "alice", nil, time.Now().Add(time.Hour))
	if resp, ok, _ := c.AuthenticateRequest(request(other)); !ok || resp.User.GetName() != "alice" {
		t.Fatalf("another certificate: ok=%v", ok)
	}
	if inner.calls != 2 {
		t.Fatalf("another certificate was answered from the cache")
	}
}

func TestNoOpinionOnWhatUpstreamRejects(t *testing.T) {
	_, c, inner, _ := setup(t)
	stranger := newCA(t, "other-ca")
	cert := stranger.client(t, "mallory", []string{"system:masters"}, time.Now().Add(time.Hour))
	for i := 0; i < 2; i++ {
		if resp, ok, err := c.AuthenticateRequest(request(cert)); ok || err != nil || resp != nil {
			t.Fatalf("a certificate of another CA: resp=%v ok=%v err=%v, want no opinion", resp, ok, err)
		}
	}
	if inner.calls != 2 {
		t.Fatalf("a rejected chain must be checked again each time: %d checks", inner.calls)
	}
	if _, ok, err := c.AuthenticateRequest(request()); ok || err != nil {
		t.Fatalf("no certificate: ok=%v err=%v", ok, err)
	}
}

func TestAnswersExpire(t *testing.T) {
	root, c, inner, now := setup(t)
	admin := root.client(t, "system:admin", nil, time.Now().Add(time.Hour))
	c.AuthenticateRequest(request(admin))
	*now = now.Add(TTL + time.Second)
	c.AuthenticateRequest(request(admin))
	if inner.calls != 2 {
		t.Fatalf("answer older than TTL reused: %d checks", inner.calls)
	}

	// A certificate expiring before the TTL is not answered for from the
	// cache past its end (upstream, on its own clock, then decides).
	soon := root.client(t, "soon", nil, now.Add(2*time.Second))
	if _, ok, _ := c.AuthenticateRequest(request(soon)); !ok {
		t.Fatal("a valid certificate was rejected")
	}
	*now = now.Add(3 * time.Second)
	calls := inner.calls
	c.AuthenticateRequest(request(soon))
	if inner.calls != calls+1 {
		t.Fatal("an expired certificate was answered for from the cache")
	}
}

func TestClearForgets(t *testing.T) {
	root, c, inner, _ := setup(t)
	admin := root.client(t, "system:admin", nil, time.Now().Add(time.Hour))
	c.AuthenticateRequest(request(admin))
	c.Enqueue() // the CA file changed
	c.AuthenticateRequest(request(admin))
	if inner.calls != 2 {
		t.Fatalf("answer reused after the client CA changed: %d checks", inner.calls)
	}
}

func TestAnswersDoNotShareGroups(t *testing.T) {
	root, c, _, _ := setup(t)
	admin := root.client(t, "system:admin", []string{"a", "b"}, time.Now().Add(time.Hour))
	first, _, _ := c.AuthenticateRequest(request(admin))
	second, _, _ := c.AuthenticateRequest(request(admin))
	second.User.GetGroups()[0] = "changed"
	third, _, _ := c.AuthenticateRequest(request(admin))
	if first.User.GetGroups()[0] != "a" || third.User.GetGroups()[0] != "a" {
		t.Fatalf("groups shared between requests: %v %v", first.User.GetGroups(), third.User.GetGroups())
	}
}
