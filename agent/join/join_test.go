package join

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kite-project/kite/pkg/datadir"
	"github.com/kite-project/kite/pkg/joinapi"
	"github.com/kite-project/kite/pkg/token"
)

// fakeServer answers /cacerts with its TLS certificate and counts the
// join requests; answer decides each one's reply.
type fakeServer struct {
	*httptest.Server
	caPEM []byte
	joins atomic.Int32
	auth  atomic.Value // last Authorization header
}

func newFakeServer(t *testing.T, answer func(w http.ResponseWriter, req joinapi.Request)) *fakeServer {
	f := &fakeServer{}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case joinapi.CACertsPath:
			w.Write(f.caPEM)
		case joinapi.JoinPath:
			f.joins.Add(1)
			f.auth.Store(r.Header.Get("Authorization"))
			var req joinapi.Request
			json.NewDecoder(r.Body).Decode(&req)
			answer(w, req)
		}
	}))
	t.Cleanup(f.Close)
	f.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw})
	return f
}

func request(t *testing.T, f *fakeServer, tok token.Token, log *slog.Logger) Request {
	return Request{Server: f.URL, Token: tok, NodeName: "edge-1", Files: datadir.New(t.TempDir()), Password: "0123456789abcdef0123", Log: log}
}

func TestWrongCAHashStopsBeforeAnySecretIsSent(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ joinapi.Request) { w.WriteHeader(http.StatusTeapot) })
	tok := token.Token{CAHash: strings.Repeat("ab", 32), User: token.ServerUser, Password: "s3cret"}
	req := request(t, f, tok, slog.New(slog.DiscardHandler))
	_, err := Join(context.Background(), req)
	var refusal *Error
	if !errors.As(err, &refusal) || !strings.Contains(err.Error(), "no secret was sent") {
		t.Fatalf("Join: %v, want a refusal about the CA", err)
	}
	if f.joins.Load() != 0 {
		t.Fatal("the join request (with the secret) was sent to a server whose CA does not match")
	}
	if _, err := os.Stat(req.Files.AgentTLSDir()); !os.IsNotExist(err) {
		t.Fatal("a refused join wrote the TLS folder")
	}
}

func TestRefusalIsTheServersMessage(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ joinapi.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(joinapi.Error{Error: "the server refused the token: wrong secret"})
	})
	tok := token.Token{CAHash: token.HashCA(f.caPEM), User: token.ServerUser, Password: "s3cret"}
	_, err := Join(context.Background(), request(t, f, tok, slog.New(slog.DiscardHandler)))
	var refusal *Error
	if !errors.As(err, &refusal) || err.Error() != "the server refused the token: wrong secret" {
		t.Fatalf("Join: %v", err)
	}
	if got := f.auth.Load(); got != "Bearer server:s3cret" {
		t.Fatalf("Authorization %q", got)
	}
}

func TestBareSecretJoinsWithAWarning(t *testing.T) {
	var f *fakeServer
	f = newFakeServer(t, func(w http.ResponseWriter, req joinapi.Request) {
		resp := joinapi.Response{Certificates: map[string]string{}, ServerCA: string(f.caPEM), ClientCA: string(f.caPEM)}
		// Any certificate for the node's key will do: self-signed here.
		for name, csrPEM := range req.CSRs {
			resp.Certificates[name] = selfSigned(t, csrPEM)
		}
		json.NewEncoder(w).Encode(resp)
	})
	var logs bytes.Buffer
	tok, _ := token.Parse("s3cret")
	req := request(t, f, tok, slog.New(slog.NewTextHandler(&logs, nil)))
	j, err := Join(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "not pinned") {
		t.Fatalf("no warning about the unpinned CA:\n%s", logs.String())
	}
	if err := j.Write(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{KubeletClientName, KubeletServingName, KubeProxyName} {
		st, err := os.Stat(req.Files.AgentKey(name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key %s: %v %v", name, err, st)
		}
	}
	// A second join reuses the keys.
	keyBefore, _ := os.ReadFile(req.Files.AgentKey(KubeletClientName))
	j2, err := Join(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	j2.Write()
	if keyAfter, _ := os.ReadFile(req.Files.AgentKey(KubeletClientName)); !bytes.Equal(keyBefore, keyAfter) {
		t.Fatal("a second join replaced the node's key")
	}
}

func TestPasswordAndNodeIDAreStable(t *testing.T) {
	dir := t.TempDir()
	p1, isNew, err := Password(filepath.Join(dir, "password"))
	if err != nil || !isNew || len(p1) < 16 {
		t.Fatalf("new password %q %v %v", p1, isNew, err)
	}
	if err := WriteSecret(filepath.Join(dir, "password"), p1); err != nil {
		t.Fatal(err)
	}
	if p2, isNew, _ := Password(filepath.Join(dir, "password")); p2 != p1 || isNew {
		t.Fatal("the saved password was not read back")
	}
	if st, _ := os.Stat(filepath.Join(dir, "password")); st.Mode().Perm() != 0o600 {
		t.Fatalf("password mode %v", st.Mode().Perm())
	}
	id, isNew, _ := NodeID(filepath.Join(dir, "node-id"))
	if len(id) != 8 || !isNew {
		t.Fatalf("node id %q", id)
	}
	WriteSecret(filepath.Join(dir, "node-id"), id)
	if again, _, _ := NodeID(filepath.Join(dir, "node-id")); again != id {
		t.Fatal("the node id changed")
	}
}

// selfSigned stands in for the server's signing: a certificate for the
// CSR's key, issued by a throwaway CA.
func selfSigned(t *testing.T, csrPEM string) string {
	t.Helper()
	block, _ := pem.Decode([]byte(csrPEM))
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return string(signForTest(t, csr))
}
