package join

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kite-project/kite/pkg/certutil"
	"github.com/kite-project/kite/pkg/joinapi"
	"github.com/kite-project/kite/pkg/token"
	"github.com/kite-project/kite/server/pki"
)

// testHandler is a Handler over a real PKI and an in-memory API (the
// fake clientset: Secrets only).
func testHandler(t *testing.T, secrets ...*corev1.Secret) (*Handler, *fake.Clientset) {
	t.Helper()
	p := pki.PKI{Dir: filepath.Join(t.TempDir(), "tls")}
	if err := p.Ensure(pki.SANs{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	for _, s := range secrets {
		objs = append(objs, s)
	}
	client := fake.NewClientset(objs...)
	return &Handler{PKI: p, ServerSecret: "server-secret", AgentSecret: "agent-secret", Client: client,
		Config: joinapi.Config{ClusterCIDR: "10.42.0.0/16"}, Log: slog.New(slog.DiscardHandler)}, client
}

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
	r := httptest.NewRequest(http.MethodPost, joinapi.JoinPath, bytes.NewReader(body))
	r.RemoteAddr = addr + ":40000"
	r.TLS = &tls.ConnectionState{}
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
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: "kube-system"},
		Type:       corev1.SecretTypeBootstrapToken,
		Data: map[string][]byte{"token-id": []byte(id), "token-secret": []byte(secret),
			"usage-bootstrap-authentication": []byte("true"), "expiration": []byte(expires.UTC().Format(time.RFC3339))},
	}
}

func TestTokensThatJoin(t *testing.T) {
	h, _ := testHandler(t,
		bootstrapSecret("abcdef", "0123456789abcdef", time.Now().Add(time.Hour)),
		bootstrapSecret("expird", "0123456789abcdef", time.Now().Add(-time.Minute)))
	for i, c := range []struct {
		creds string
		code  int
		want  string
	}{
		{"server:server-secret", 200, ""},
		{"server-secret", 200, ""}, // a bare secret is the server's
		{"node:agent-secret", 200, ""},
		{"abcdef.0123456789abcdef", 200, ""},
		{"server:agent-secret", 401, "wrong secret"},
		{"node:server-secret", 401, "wrong secret"},
		{"abcdef.0000000000000000", 401, "wrong secret"},
		{"expird.0123456789abcdef", 401, "expired"},
		{"zzzzzz.0123456789abcdef", 401, "does not exist"},
		{"", 401, "no token"},
	} {
		w, msg := post(h, c.creds, joinRequest(t, "edge-"+string(rune('a'+i)), "a-node-password-of-some-length"), "198.18.1.12")
		if w.Code != c.code || !strings.Contains(msg, c.want) {
			t.Errorf("token %q: %d %q, want %d %q", c.creds, w.Code, msg, c.code, c.want)
		}
		if c.code == 200 {
			var resp joinapi.Response
			json.Unmarshal(w.Body.Bytes(), &resp)
			if len(resp.Certificates) != 3 || resp.ServerCA == "" || resp.Config.ClusterCIDR != "10.42.0.0/16" {
				t.Errorf("token %q: incomplete answer %+v", c.creds, resp)
			}
		}
		h.limiter.forget("198.18.1.12") // this test is not about the limiter
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
