package kubeconfig

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteEmbedsCredentialsWithMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc", "kite", "kite.yaml")
	c := Config{Server: "https://127.0.0.1:6443", CAPEM: []byte("ca"), CertPEM: []byte("cert"), KeyPEM: []byte("key")}
	if err := c.Write(path, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	for _, want := range []string{
		"server: https://127.0.0.1:6443",
		"certificate-authority-data: " + base64.StdEncoding.EncodeToString([]byte("ca")),
		"client-key-data: " + base64.StdEncoding.EncodeToString([]byte("key")),
		"current-context: default",
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("kubeconfig lacks %q", want)
		}
	}
	if err := c.Write(path, 0o644); err != nil {
		t.Fatal(err)
	}
	st, _ = os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Fatalf("mode not applied on rewrite: %v", st.Mode().Perm())
	}
}
