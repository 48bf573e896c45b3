// Package kubeconfig writes kubeconfig files that carry their credentials
// inline, so a copied file works anywhere. It renders plain YAML rather than
// importing client-go, to stay small.
package kubeconfig

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kite-project/kite/pkg/fileutil"
)

// Config is one cluster, one user, one context, all named "default".
type Config struct {
	Server  string // https://host:port
	CAPEM   []byte
	CertPEM []byte
	KeyPEM  []byte
}

// Render returns the kubeconfig YAML.
func (c Config) Render() []byte {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: default
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: default
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: default
  context:
    cluster: default
    user: default
current-context: default
preferences: {}
`, c.Server, b64(c.CAPEM), b64(c.CertPEM), b64(c.KeyPEM))
}

// FromFiles builds a Config from PEM files.
func FromFiles(server, caFile, certFile, keyFile string) (Config, error) {
	c := Config{Server: server}
	var err error
	if c.CAPEM, err = os.ReadFile(caFile); err != nil {
		return c, err
	}
	if c.CertPEM, err = os.ReadFile(certFile); err != nil {
		return c, err
	}
	if c.KeyPEM, err = os.ReadFile(keyFile); err != nil {
		return c, err
	}
	return c, nil
}

// Write writes the kubeconfig to path with mode, creating its folder, and
// leaves the file untouched when its content is already right.
func (c Config) Write(path string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	_, err := fileutil.WriteIfChanged(path, c.Render(), mode)
	return err
}
