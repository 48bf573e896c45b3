package join

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kite-project/kite/pkg/certutil"
	"github.com/kite-project/kite/pkg/joinapi"
	"github.com/kite-project/kite/pkg/token"
	"github.com/kite-project/kite/server/pki"
	"github.com/kite-project/kite/server/tokens"
)

// testHandler is a Handler over a real PKI and an in-memory API (the
// fake clientset: Secrets only); its bootstrap tokens are secrets, found
// by ID without the API (tokenMap).
func testHandler(t *testing.T, secrets ...*corev1.Secret) (*Handler, *fake.Clientset) {
	t.Helper()
	p := pki.PKI{Dir: filepath.Join(t.TempDir(), "tls")}
	if err := p.Ensure(pki.SANs{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	boot := tokenMap{}
	for _, s := range secrets {
		objs = append(objs, s)
		boot[strings.TrimPrefix(s.Name, tokens.SecretPrefix)] = s
	}
	client := fake.NewClientset(objs...)
	return &Handler{PKI: p, ServerSecret: "server-secret", AgentSecret: "agent-secret", Client: client, Tokens: boot,
		Config: joinapi.Config{ClusterCIDR: "10.42.0.0/16"}, Log: slog.New(slog.DiscardHandler)}, client
}

// tokenMap is BootstrapTokens over a fixed set of Secrets, by ID.
type tokenMap map[string]*corev1.Secret

func (m tokenMap) Bootstrap(id string) (*corev1.Secret, error) { return m[id], nil }

func joinRequest(t *testing.T, node, password string) []byte {
	t.Helper()
	key, _, err := certutil.LoadOrNewKey(filepath.Join(t.TempDir(), "absent"))
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := certutil.CSR(key, node)
	body, _ := json.Marshal(joinapi.Request{NodeName: node, NodeIPs: []string{"198.18.1.12"}, NodePassword: password,
		CSRs: map[string]string{joinapi.KubeletClient: string(csr), joinapi.KubeletServing: string(csr), joinapi.KubeProxy: string(csr)}})
	return body
}

// post sends a join request with creds (empty: none) from addr.
func post(h *Handler, creds string, body []byte, addr string) (*httptest.ResponseRecorder, string) {
	return postRequest(h, creds, bytes.NewReader(body), addr, nil)
}

// postRequest is post with any body and, if cert is set, that client
// certificate.
func postRequest(h *Handler, creds string, body io.Reader, addr string, cert *x509.Certificate) (*httptest.ResponseRecorder, string) {
	r := httptest.NewRequest(http.MethodPost, joinapi.JoinPath, body)
	r.RemoteAddr = net.JoinHostPort(addr, "40000")
	r.TLS = &tls.ConnectionState{}
	if cert != nil {
		r.TLS.PeerCertificates = []*x509.Certificate{cert}
	}
	return serve(h, r, creds)
}

// serve sends r with creds (empty: none) through h, and returns the answer
// and its error message.
func serve(h *Handler, r *http.Request, creds string) (*httptest.ResponseRecorder, string) {
	if creds != "" {
		r.Header.Set("Authorization", "Bearer "+creds)
	}
	w := httptest.NewRecorder()
	h.Wrap(http.NotFoundHandler()).ServeHTTP(w, r)
	var e joinapi.Error
	json.Unmarshal(w.Body.Bytes(), &e)
	return w, e.Error
}

func bootstrapSecret(id, secret string, expires time.Time) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: tokens.SecretName(id), Namespace: tokens.Namespace},
		Type:       tokens.SecretType,
		Data: map[string][]byte{tokens.KeyID: []byte(id), tokens.KeySecret: []byte(secret),
			tokens.KeyUsageAuthentication: []byte("true"), tokens.KeyExpiration: []byte(expires.UTC().Format(time.RFC3339))},
	}
}

// logTo makes h log into a buffer the test reads.
func logTo(h *Handler) *lockedBuffer {
	var b lockedBuffer
	h.Log = slog.New(slog.NewTextHandler(&b, nil))
	return &b
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestTokensThatJoin(t *testing.T) {
	h, _ := testHandler(t, bootstrapSecret("abcdef", "0123456789abcdef", time.Now().Add(time.Hour)))
	for i, creds := range []string{
		"server:server-secret",
		"server-secret", // a bare secret is the server's
		"node:agent-secret",
		"abcdef.0123456789abcdef",
	} {
		// Each from its own address: this test is not about the limiter.
		w, msg := post(h, creds, joinRequest(t, "edge-"+string(rune('a'+i)), "a-node-password-of-some-length"), net.IPv4(198, 18, 1, byte(20+i)).String())
		if w.Code != 200 {
			t.Errorf("token %q: %d %q", creds, w.Code, msg)
			continue
		}
		var resp joinapi.Response
		json.Unmarshal(w.Body.Bytes(), &resp)
		if len(resp.Certificates) != 3 || resp.ServerCA == "" || resp.Config.ClusterCIDR != "10.42.0.0/16" {
			t.Errorf("token %q: incomplete answer %+v", creds, resp)
		}
	}
}

// Every bad token gets one answer, whatever is wrong with it: nobody
// learns which bootstrap token IDs exist. The reason is in the log, with
// the source address.
func TestEveryBadTokenGetsTheSameAnswer(t *testing.T) {
	notForAuth := bootstrapSecret("noauth", "0123456789abcdef", time.Now().Add(time.Hour))
	delete(notForAuth.Data, tokens.KeyUsageAuthentication)
	otherType := bootstrapSecret("othert", "0123456789abcdef", time.Now().Add(time.Hour))
	otherType.Type = corev1.SecretTypeOpaque
	h, _ := testHandler(t,
		bootstrapSecret("abcdef", "0123456789abcdef", time.Now().Add(time.Hour)),
		bootstrapSecret("expird", "0123456789abcdef", time.Now().Add(-time.Minute)),
		notForAuth, otherType)
	log := logTo(h)
	noAgent, _ := testHandler(t)
	noAgent.AgentSecret = ""
	var first []byte
	for i, c := range []struct {
		h      *Handler
		creds  string
		reason string
	}{
		{h, "zzzzzz.0123456789abcdef", "does not exist"},
		{h, "abcdef.0000000000000000", "wrong secret for bootstrap token abcdef"},
		{h, "expird.0123456789abcdef", "expired"},
		{h, "noauth.0123456789abcdef", "may not be used to join"},
		{h, "othert.0123456789abcdef", "wrong secret for bootstrap token othert"},
		{h, "server:agent-secret", "wrong secret for the server token"},
		{h, "server:server-secre", "wrong secret for the server token"},
		{h, "node:server-secret", "wrong secret for the agent token"},
		{noAgent, "node:agent-secret", "this server has none"},
		{h, "K10abc::server:x", "malformed"},
		{h, "K10" + strings.Repeat("ab", 32) + "::", "malformed"},
		{h, "tricky:one", "wrong secret for the server token"}, // a bare secret of the server's
		{h, strings.Repeat("x", 5000), "a token of 5000 bytes"},
		{h, "", "no bearer token"},
	} {
		source := net.IPv4(198, 18, 2, byte(10+i)).String()
		w, _ := post(c.h, c.creds, joinRequest(t, "edge-1", "a-node-password-of-some-length"), source)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", c.creds, w.Code)
		}
		if first == nil {
			first = w.Body.Bytes()
			var e joinapi.Error
			if json.Unmarshal(first, &e); e.Error != badToken {
				t.Fatalf("answer %q, want %q", first, badToken)
			}
		} else if !bytes.Equal(w.Body.Bytes(), first) {
			t.Errorf("token %q: answer %q, not the one answer %q", c.creds, w.Body.Bytes(), first)
		}
		if c.h == h && !strings.Contains(log.String(), c.reason) || c.h == h && !strings.Contains(log.String(), "source="+source+":") {
			t.Errorf("token %q: no %q from %s in the log:\n%s", c.creds, c.reason, source, log.String())
		}
	}
	if strings.Contains(log.String(), "0123456789abcdef") {
		t.Error("a secret is in the log")
	}
}

// A node that joined before presents its kubelet client certificate: it
// may join again as itself whatever its token, and only as itself.
func TestANodesCertificateJoinsItAsItself(t *testing.T) {
	h, _ := testHandler(t)
	key, _, _ := certutil.LoadOrNewKey(filepath.Join(t.TempDir(), "absent"))
	csr, _ := certutil.CSR(key, "edge-1")
	certPEM, err := h.PKI.SignNodeCert(joinapi.KubeletClient, "edge-1", nil, csr, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := certutil.ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if w, msg := postRequest(h, "abcdef.0123456789abcdef", bytes.NewReader(joinRequest(t, "edge-1", "a-node-password-of-some-length")), "198.18.1.12", cert); w.Code != 200 {
		t.Fatalf("a node with its certificate and a deleted token: %d %q", w.Code, msg)
	}
	if w, msg := postRequest(h, "server:wrong", bytes.NewReader(joinRequest(t, "edge-2", "a-node-password-of-some-length")), "198.18.1.12", cert); w.Code != http.StatusUnauthorized || msg != badToken {
		t.Fatalf("edge-1's certificate for edge-2: %d %q", w.Code, msg)
	}
	if w, msg := postRequest(h, "server:server-secret", bytes.NewReader(joinRequest(t, "edge-2", "a-node-password-of-some-length")), "198.18.1.13", cert); w.Code != 200 {
		t.Fatalf("edge-1's certificate and a good token for edge-2: %d %q", w.Code, msg)
	}
	// Until the server knows which nodes were removed, a node that comes
	// with its certificate only is asked to retry, not refused.
	h.Removed = func(*x509.Certificate) bool { return true }
	h.RemovalsLoaded = func() bool { return false }
	if w, msg := postRequest(h, "abcdef.0123456789abcdef", bytes.NewReader(joinRequest(t, "edge-1", "a-node-password-of-some-length")), "198.18.1.15", cert); w.Code != http.StatusServiceUnavailable || msg != starting {
		t.Fatalf("a node with its certificate before the removals are known: %d %q", w.Code, msg)
	}
	// Once the node is removed, its certificate proves nothing.
	h.Removed = func(c *x509.Certificate) bool { return c.Equal(cert) }
	h.RemovalsLoaded = func() bool { return true }
	if w, msg := postRequest(h, "abcdef.0123456789abcdef", bytes.NewReader(joinRequest(t, "edge-1", "a-node-password-of-some-length")), "198.18.1.14", cert); w.Code != http.StatusUnauthorized || msg != badToken {
		t.Fatalf("a removed node with its certificate and a deleted token: %d %q", w.Code, msg)
	}
	if w, msg := postRequest(h, "server:server-secret", bytes.NewReader(joinRequest(t, "edge-1", "a-node-password-of-some-length")), "198.18.1.14", cert); w.Code != 200 {
		t.Fatalf("a removed node with a good token: %d %q", w.Code, msg)
	}
}

func TestNodeNameBelongsToItsFirstPassword(t *testing.T) {
	h, client := testHandler(t)
	creds := "server:server-secret"
	if w, msg := post(h, creds, joinRequest(t, "edge-1", "first-password-0123"), "198.18.1.12"); w.Code != 200 {
		t.Fatalf("first join: %d %s", w.Code, msg)
	}
	s, err := client.CoreV1().Secrets("kube-system").Get(t.Context(), PasswordSecretName("edge-1"), metav1.GetOptions{})
	if err != nil || bytes.Contains(s.Data["hash"], []byte("first-password")) {
		t.Fatalf("password secret %v %v: want the hash, not the password", s, err)
	}
	if w, msg := post(h, creds, joinRequest(t, "edge-1", "first-password-0123"), "198.18.1.12"); w.Code != 200 {
		t.Fatalf("the same node again: %d %s", w.Code, msg)
	}
	w, msg := post(h, creds, joinRequest(t, "edge-1", "other-password-0123"), "198.18.1.13")
	if w.Code != http.StatusConflict || !strings.Contains(msg, "taken by another node") || !strings.Contains(msg, "--with-node-id") {
		t.Fatalf("another node with the name: %d %q", w.Code, msg)
	}
}

func TestRepeatedFailuresAreSlowedDown(t *testing.T) {
	h, _ := testHandler(t)
	body := joinRequest(t, "edge-1", "a-node-password-of-some-length")
	for i := 0; i < freeFailures; i++ {
		post(h, "server:wrong", body, "198.18.1.66")
	}
	w, msg := post(h, "server:server-secret", body, "198.18.1.66")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(msg, "198.18.1.66") {
		t.Fatalf("after %d failures: %d %q", freeFailures, w.Code, msg)
	}
	if w, _ := post(h, "server:server-secret", body, "198.18.1.67"); w.Code != 200 {
		t.Fatal("another address was slowed down too")
	}
}

// blockingTokens holds every bootstrap token lookup until released, and
// counts them: what reaches authentication.
type blockingTokens struct {
	mu      sync.Mutex
	calls   int
	release chan struct{}
}

func (b *blockingTokens) Bootstrap(string) (*corev1.Secret, error) {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	<-b.release
	return nil, nil
}

func (b *blockingTokens) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 10 s", what)
		}
	}
}

// An attempt counts against its address when it starts: of a burst of
// concurrent attempts from one address, only the free budget reaches
// authentication; the others are refused at once.
func TestConcurrentAttemptsFromOneAddressCountWhenTheyStart(t *testing.T) {
	h, _ := testHandler(t)
	tokens := &blockingTokens{release: make(chan struct{})}
	h.Tokens = tokens
	const n = 100
	codes := make(chan int, n)
	for i := 0; i < n; i++ {
		go func() {
			w, _ := post(h, "abcdef.0123456789abcdef", nil, "198.18.1.66")
			codes <- w.Code
		}()
	}
	got := map[int]int{}
	for i := 0; i < n-freeFailures; i++ {
		select {
		case c := <-codes:
			got[c]++
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d answers while %d attempts are held in authentication: %v", i, tokens.count(), got)
		}
	}
	if got[http.StatusTooManyRequests] != n-freeFailures || tokens.count() != freeFailures {
		t.Fatalf("with %d attempts held: %v, %d in authentication; want %d refused at once, %d in authentication", freeFailures, got, tokens.count(), n-freeFailures, freeFailures)
	}
	close(tokens.release)
	for i := 0; i < freeFailures; i++ {
		got[<-codes]++
	}
	if got[http.StatusUnauthorized] != freeFailures || tokens.count() != freeFailures {
		t.Fatalf("answers %v, %d in authentication", got, tokens.count())
	}
	if w, _ := post(h, "server:server-secret", joinRequest(t, "edge-1", "a-node-password-of-some-length"), "198.18.1.66"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: %d, want the address to wait", freeFailures, w.Code)
	}
}

// readCounter is a request body that says whether it was read.
type readCounter struct {
	mu   sync.Mutex
	read bool
}

func (r *readCounter) Read(p []byte) (int, error) {
	r.mu.Lock()
	r.read = true
	r.mu.Unlock()
	return 0, io.EOF
}

// Above the global cap on attempts being authenticated, an attempt is
// shed at once, 429 with Retry-After, its body unread.
func TestTheGlobalCapSheds(t *testing.T) {
	h, _ := testHandler(t)
	h.MaxUnauthenticated = 4
	tokens := &blockingTokens{release: make(chan struct{})}
	h.Tokens = tokens
	done := make(chan int, h.MaxUnauthenticated)
	for i := 0; i < h.MaxUnauthenticated; i++ {
		go func() {
			w, _ := post(h, "abcdef.0123456789abcdef", nil, net.IPv4(198, 18, 3, byte(i+1)).String())
			done <- w.Code
		}()
	}
	waitFor(t, "all held in authentication", func() bool { return tokens.count() == h.MaxUnauthenticated })
	body := &readCounter{}
	w, msg := postRequest(h, "server:server-secret", body, "198.18.3.100", nil)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" || msg != busy {
		t.Fatalf("above the cap: %d %q (Retry-After %q)", w.Code, msg, w.Header().Get("Retry-After"))
	}
	if body.read {
		t.Fatal("a shed attempt's body was read")
	}
	close(tokens.release)
	for i := 0; i < h.MaxUnauthenticated; i++ {
		if c := <-done; c != http.StatusUnauthorized {
			t.Fatalf("a held attempt: %d", c)
		}
	}
	// The shed attempt did not count against its address, and the cap is
	// free again.
	if w, msg := post(h, "server:server-secret", joinRequest(t, "edge-1", "a-node-password-of-some-length"), "198.18.3.100"); w.Code != 200 {
		t.Fatalf("once the cap is free: %d %q", w.Code, msg)
	}
}

// Until bootstrap tokens are loaded, a bootstrap token gets 503 (the
// agent retries it) and does not count as a failure; the server token
// works meanwhile.
func TestBootstrapTokensBeforeTheCacheSyncs(t *testing.T) {
	h, _ := testHandler(t)
	h.Tokens = &TokenCache{}
	for i := 0; i < 2*freeFailures; i++ {
		w, msg := post(h, "abcdef.0123456789abcdef", joinRequest(t, "edge-1", "a-node-password-of-some-length"), "198.18.1.66")
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || msg != starting {
			t.Fatalf("attempt %d: %d %q", i, w.Code, msg)
		}
	}
	if w, msg := post(h, "server:server-secret", joinRequest(t, "edge-1", "a-node-password-of-some-length"), "198.18.1.66"); w.Code != 200 {
		t.Fatalf("the server token: %d %q", w.Code, msg)
	}
}

// An internal error (here the API's) is logged with its details; the
// client gets a fixed answer.
func TestInternalErrorsAreLoggedNotReturned(t *testing.T) {
	h, client := testHandler(t)
	log := logTo(h)
	client.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("etcd at 10.9.8.7:2379 is on fire")
	})
	w, msg := post(h, "server:server-secret", joinRequest(t, "edge-1", "a-node-password-of-some-length"), "198.18.1.12")
	if w.Code != http.StatusInternalServerError || msg != internalError || strings.Contains(w.Body.String(), "10.9.8.7") {
		t.Fatalf("%d %q", w.Code, w.Body.String())
	}
	if !strings.Contains(log.String(), "10.9.8.7:2379 is on fire") {
		t.Fatalf("the error is not in the log:\n%s", log.String())
	}
	// Not the client's failure: the address is not slowed down.
	for i := 0; i < freeFailures; i++ {
		post(h, "server:server-secret", joinRequest(t, "edge-1", "a-node-password-of-some-length"), "198.18.1.12")
	}
	if w, _ := post(h, "server:server-secret", joinRequest(t, "edge-1", "a-node-password-of-some-length"), "198.18.1.12"); w.Code != http.StatusInternalServerError {
		t.Fatalf("after internal errors: %d", w.Code)
	}

	os.Remove(h.PKI.Cert(pki.ServerCA))
	w = httptest.NewRecorder()
	h.Wrap(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, joinapi.CACertsPath, nil))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), h.PKI.Dir) {
		t.Fatalf("/cacerts without its file: %d %q", w.Code, w.Body.String())
	}
}

func TestSourcesAreCountedByAddressOrIPv6Prefix(t *testing.T) {
	for addr, want := range map[string]string{
		"198.18.1.12:40000":          "198.18.1.12",
		"[2001:db8:1:2:aa::1]:40000": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::9]:1":   "2001:db8:1:2::/64",
		"[::ffff:198.18.1.12]:40000": "::ffff:198.18.1.12",
		"[::1]:40000":                "::/64",
		"@":                          "@",
	} {
		if got := sourceKey(&http.Request{RemoteAddr: addr}); got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
}

func TestCACertsIsTheFileTheTokenPins(t *testing.T) {
	h, _ := testHandler(t)
	w := httptest.NewRecorder()
	h.Wrap(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, joinapi.CACertsPath, nil))
	caFile := readFile(t, h.PKI.Cert(pki.ServerCA))
	if w.Code != 200 || token.HashCA(w.Body.Bytes()) != token.HashCA(caFile) {
		t.Fatalf("/cacerts: %d, not the server CA file", w.Code)
	}
	w = httptest.NewRecorder()
	h.Wrap(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api", nil))
	if w.Code != http.StatusNotFound {
		t.Fatal("other paths do not reach the API server's handler")
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
