// Package join is the node's side of joining a server: it fetches the
// server's CA and checks it against the hash the token pins before it sends
// any secret, then asks the server to sign the node's certificates (the
// private keys never leave the node) and receives the cluster's settings.
// Nothing is written until the server has said yes; then Write puts it all
// in the node's TLS folder.
package join

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kite-project/kite/pkg/certutil"
	"github.com/kite-project/kite/pkg/datadir"
	"github.com/kite-project/kite/pkg/fileutil"
	"github.com/kite-project/kite/pkg/joinapi"
	"github.com/kite-project/kite/pkg/joinclient"
	"github.com/kite-project/kite/pkg/token"
)

// Request is what the node brings to the join.
type Request struct {
	Server   string // https://HOST:PORT
	Token    token.Token
	NodeName string
	NodeIPs  []net.IP
	// Files is the data dir: the node's keys and certificates are in its
	// AgentTLSDir; kept keys are reused.
	Files datadir.Layout
	// Password is the node password (see Password).
	Password string
	Log      *slog.Logger
}

// Joined is a successful join, not yet written.
type Joined struct {
	Response joinapi.Response
	keys     map[string][]byte // PEM, by certificate name
	files    datadir.Layout
}

// Error is a refusal that retrying cannot mend: a bad token, a CA that is
// not the pinned one, a name taken by another node. kite agent ends on it.
type Error = joinclient.Error

// The node's certificates, by their names in the join API.
const (
	KubeletClientName  = joinapi.KubeletClient
	KubeletServingName = joinapi.KubeletServing
	KubeProxyName      = joinapi.KubeProxy
)

// Join runs the join, retrying while the server cannot be reached (and
// saying so), and returns at once on a refusal.
func Join(ctx context.Context, req Request) (*Joined, error) {
	roots, pinned, err := joinclient.PinnedRoots(ctx, req.Server, req.Token, req.Log)
	if err != nil {
		return nil, err
	}
	if !pinned {
		req.Log.Warn("the token has no CA hash, so the server's CA is not pinned: anyone between this node and the server could pose as it; use the full K10… token from the server's token file")
	}

	j := &Joined{keys: map[string][]byte{}, files: req.Files}
	body := joinapi.Request{NodeName: req.NodeName, NodePassword: req.Password, CSRs: map[string]string{}}
	for _, ip := range req.NodeIPs {
		body.NodeIPs = append(body.NodeIPs, ip.String())
	}
	for _, name := range []string{joinapi.KubeletClient, joinapi.KubeletServing, joinapi.KubeProxy} {
		key, keyPEM, err := certutil.LoadOrNewKey(req.Files.AgentKey(name))
		if err != nil {
			return nil, err
		}
		csr, err := certutil.CSR(key, req.NodeName)
		if err != nil {
			return nil, err
		}
		j.keys[name] = keyPEM
		body.CSRs[name] = string(csr)
	}
	tlsConfig := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	// A node that joined before proves its name with its certificate too,
	// so it can rejoin after its (bootstrap) token was deleted.
	if cert, err := tls.LoadX509KeyPair(req.Files.AgentCert(KubeletClientName), req.Files.AgentKey(KubeletClientName)); err == nil {
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	var r joinclient.Retry
	for {
		resp, err := joinclient.Post[joinapi.Response](ctx, client, req.Server+joinapi.JoinPath, req.Token.Credentials(), body)
		if err == nil {
			j.Response = *resp
			return j, j.check()
		}
		var fatal *Error
		if errors.As(err, &fatal) {
			return nil, err
		}
		req.Log.Warn("join did not complete; retrying", "server", req.Server, "err", err)
		if err := r.Sleep(ctx); err != nil {
			return nil, err
		}
	}
}

// check makes sure the answer is complete and fits the keys.
func (j *Joined) check() error {
	for name, keyPEM := range j.keys {
		cert, err := certutil.ParseCert([]byte(j.Response.Certificates[name]))
		if err != nil {
			return fmt.Errorf("the server sent no valid %s certificate: %w", name, err)
		}
		key, err := certutil.ParseKey(keyPEM)
		if err != nil {
			return err
		}
		if !certutil.Matches(cert, key) {
			return fmt.Errorf("the server's %s certificate is not for this node's key", name)
		}
	}
	if j.Response.ServerCA == "" || j.Response.ClientCA == "" {
		return errors.New("the server's join answer has no CA certificates")
	}
	return nil
}

// Write keeps the keys (0600), certificates and CA certificates in the TLS
// folder. Each file is replaced atomically.
func (j *Joined) Write() error {
	if err := os.MkdirAll(j.files.AgentTLSDir(), 0o700); err != nil {
		return err
	}
	for name, keyPEM := range j.keys {
		if _, err := fileutil.WriteIfChanged(j.files.AgentKey(name), keyPEM, 0o600); err != nil {
			return err
		}
		if _, err := fileutil.WriteIfChanged(j.files.AgentCert(name), []byte(j.Response.Certificates[name]), 0o644); err != nil {
			return err
		}
	}
	if _, err := fileutil.WriteIfChanged(j.files.AgentServerCA(), []byte(j.Response.ServerCA), 0o644); err != nil {
		return err
	}
	_, err := fileutil.WriteIfChanged(j.files.AgentClientCA(), []byte(j.Response.ClientCA), 0o644)
	return err
}

// Password returns the node password kept at path, or a new random one
// (new is true: write it with WriteSecret once the join succeeded).
func Password(path string) (password string, isNew bool, err error) {
	data, err := os.ReadFile(path)
	if err == nil {
		p := strings.TrimSpace(string(data))
		if len(p) < 16 {
			return "", false, fmt.Errorf("node password file %s is too short or empty; remove it only if this node's name was never used (the server refuses a name claimed with another password)", path)
		}
		return p, false, nil
	}
	if !os.IsNotExist(err) {
		return "", false, err
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", false, err
	}
	return hex.EncodeToString(b), true, nil
}

// WriteSecret writes the node password, or the node ID, to path (0600).
func WriteSecret(path, value string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	_, err := fileutil.WriteIfChanged(path, []byte(value+"\n"), 0o600)
	return err
}

// NodeID returns a stable random suffix for --with-node-id, kept at path.
func NodeID(path string) (id string, isNew bool, err error) {
	data, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(data))) == 8 {
		return strings.TrimSpace(string(data)), false, nil
	}
	if err != nil && !os.IsNotExist(err) {
		return "", false, err
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", false, err
	}
	return hex.EncodeToString(b), true, nil
}
