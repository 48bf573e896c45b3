package noderemoval

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kite-project/kite/pkg/certutil"
	"github.com/kite-project/kite/pkg/joinapi"
	"github.com/kite-project/kite/server/pki"
)

// nodeCert issues node's certificate name at the given time, as a join
// would.
func nodeCert(t *testing.T, p pki.PKI, name, node string, at time.Time) *x509.Certificate {
	t.Helper()
	key, _, err := certutil.LoadOrNewKey(filepath.Join(t.TempDir(), "absent.key"))
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := certutil.CSR(key, node)
	certPEM, err := p.SignNodeCert(name, node, nil, csr, at)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := certutil.ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func testPKI(t *testing.T) pki.PKI {
	t.Helper()
	p := pki.PKI{Dir: t.TempDir()}
	if err := p.Ensure(pki.SANs{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return p
}

func registry(removed map[string]time.Time) *Registry {
	r := &Registry{Log: slog.New(slog.DiscardHandler), PasswordSecret: func(n string) string { return n + ".node-password.kite" }}
	r.Prepare(context.Background())
	if removed != nil {
		r.removed.Store(&removed)
	}
	return r
}

func TestRefusedCertificates(t *testing.T) {
	p := testPKI(t)
	removedAt := time.Now().Truncate(time.Second)
	r := registry(map[string]time.Time{"edge-1": removedAt})
	before, after := removedAt.Add(-time.Hour), removedAt.Add(2*time.Second)
	for _, c := range []struct {
		what    string
		cert    *x509.Certificate
		refused bool
	}{
		{"removed node's kubelet", nodeCert(t, p, joinapi.KubeletClient, "edge-1", before), true},
		{"removed node's kube-proxy", nodeCert(t, p, joinapi.KubeProxy, "edge-1", before), true},
		{"issued in the second of the removal", nodeCert(t, p, joinapi.KubeletClient, "edge-1", removedAt), true},
		{"joined again after the removal", nodeCert(t, p, joinapi.KubeletClient, "edge-1", after), false},
		{"another node", nodeCert(t, p, joinapi.KubeletClient, "edge-2", before), false},
		{"another node's kube-proxy", nodeCert(t, p, joinapi.KubeProxy, "edge-2", before), false},
	} {
		if got := r.Refused(c.cert); got != c.refused {
			t.Errorf("%s: refused %v, want %v", c.what, got, c.refused)
		}
	}
	// Until the record is read, no node's certificate passes; others do.
	unread := registry(nil)
	if !unread.Refused(nodeCert(t, p, joinapi.KubeletClient, "edge-2", before)) {
		t.Error("a node's certificate passed before the record was read")
	}
	adminPEM, err := os.ReadFile(p.Cert(pki.Admin))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := certutil.ParseCert(adminPEM)
	if err != nil {
		t.Fatal(err)
	}
	if unread.Refused(admin) {
		t.Error("the admin's certificate refused")
	}
}

// request is one request with cert as its client certificate.
func newRequest(path string, cert *x509.Certificate) *http.Request {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	return req
}

func TestWrapRefusesRemovedNodesAndEndsTheirRequests(t *testing.T) {
	p := testPKI(t)
	r := registry(map[string]time.Time{"gone": time.Now()})
	old := time.Now().Add(-time.Hour)
	started := make(chan struct{})
	ended := make(chan error, 1)
	h := r.Wrap(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/watch" {
			close(started)
			<-req.Context().Done() // a watch, until the client or the server ends it
			ended <- req.Context().Err()
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	serve := func(req *http.Request) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	if code := serve(newRequest("/api/v1/nodes/gone", nodeCert(t, p, joinapi.KubeletClient, "gone", old))); code != http.StatusUnauthorized {
		t.Errorf("removed node's request: %d, want 401", code)
	}
	if code := serve(newRequest(joinapi.JoinPath, nodeCert(t, p, joinapi.KubeletClient, "gone", old))); code != http.StatusOK {
		t.Errorf("removed node's join (with a token, maybe): %d, want it passed on", code)
	}
	if code := serve(newRequest("/api/v1/nodes/edge-1", nodeCert(t, p, joinapi.KubeletClient, "edge-1", old))); code != http.StatusOK {
		t.Errorf("another node's request: %d", code)
	}

	// A node's open watch ends when the node is removed.
	go serve(newRequest("/watch", nodeCert(t, p, joinapi.KubeletClient, "edge-1", old)))
	<-started
	select {
	case err := <-ended:
		t.Fatalf("the watch ended before the removal: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	removedAt := time.Now()
	r.cut("edge-1", removedAt)
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the removed node's watch was not ended")
	}

	// A node that joined again since its removal keeps its watch.
	started = make(chan struct{})
	go serve(newRequest("/watch", nodeCert(t, p, joinapi.KubeletClient, "edge-1", removedAt.Add(2*time.Second))))
	<-started
	r.cut("edge-1", removedAt)
	select {
	case err := <-ended:
		t.Fatalf("the watch of a node that joined after its removal ended: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	r.cut("edge-1", removedAt.Add(time.Hour)) // removed once more
	<-ended
}

func TestActDeletesOnlyWhatIsOlderThanTheRemoval(t *testing.T) {
	removedAt := time.Now().Truncate(time.Second)
	older := metav1.NewTime(removedAt.Add(-time.Hour))
	newer := metav1.NewTime(removedAt.Add(time.Minute))
	client := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gone", CreationTimestamp: older}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gone.node-password.kite", Namespace: "kube-system", CreationTimestamp: older}},
		// A node that joined again under its old name since.
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "back", CreationTimestamp: newer}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "back.node-password.kite", Namespace: "kube-system", CreationTimestamp: newer}},
	)
	r := registry(nil)
	r.Client = client
	ctx := context.Background()
	r.act(ctx, "gone", removedAt)
	r.act(ctx, "back", removedAt)
	if _, err := client.CoreV1().Nodes().Get(ctx, "gone", metav1.GetOptions{}); err == nil {
		t.Error("the removed node's Node is still there")
	}
	if _, err := client.CoreV1().Secrets("kube-system").Get(ctx, "gone.node-password.kite", metav1.GetOptions{}); err == nil {
		t.Error("the removed node's password is still there")
	}
	if _, err := client.CoreV1().Nodes().Get(ctx, "back", metav1.GetOptions{}); err != nil {
		t.Errorf("a node that joined after the removal was deleted: %v", err)
	}
	if _, err := client.CoreV1().Secrets("kube-system").Get(ctx, "back.node-password.kite", metav1.GetOptions{}); err != nil {
		t.Errorf("the password of a node that joined after the removal was deleted: %v", err)
	}
}

func TestRemoveRecordsAndForgetsExpiredRemovals(t *testing.T) {
	now := time.Now()
	client := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigMap, Namespace: "kube-system", ResourceVersion: "1"},
		Data:       map[string]string{"ancient": now.Add(-keep - time.Hour).UTC().Format(time.RFC3339)},
	})
	ctx := context.Background()
	if err := Remove(ctx, client, "edge-1", now); err != nil {
		t.Fatal(err)
	}
	cm, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, ConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := Parse(cm, slog.New(slog.DiscardHandler))
	if len(got) != 1 || !got["edge-1"].Equal(now.Truncate(time.Second)) {
		t.Fatalf("record %v, want only edge-1 at %s", cm.Data, now)
	}
	// On a cluster without a record yet, it is created.
	if err := Remove(ctx, fake.NewClientset(), "edge-1", now); err != nil {
		t.Fatal(err)
	}
}
