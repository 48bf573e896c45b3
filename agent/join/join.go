// Package join is the node's side of joining a server: it fetches the
// server's CA and checks it against the hash the token pins before it sends
// any secret, then asks the server to sign the node's certificates (the
// private keys never leave the node) and receives the cluster's settings.
// Nothing is written until the server has said yes; then Write puts it all
// in the node's TLS folder.
package join

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// The node's certificates, by their names in the join API.
const (
	KubeletClientName  = joinapi.KubeletClient
	KubeletServingName = joinapi.KubeletServing
	KubeProxyName      = joinapi.KubeProxy
)

// retry backs off from 1 s to 30 s.
type retry struct{ wait time.Duration }

func (r *retry) sleep(ctx context.Context) error {
	r.wait = min(max(2*r.wait, time.Second), 30*time.Second)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.wait):
		return nil
	}
}

// Join runs the join, retrying while the server cannot be reached (and
// saying so), and returns at once on a refusal.
func Join(ctx context.Context, req Request) (*Joined, error) {
	var r retry
	var caPEM []byte
	for {
		var err error
		caPEM, err = fetchCA(ctx, req.Server)
		if err == nil {
			break
		}
		var fatal *Error
		if errors.As(err, &fatal) {
			return nil, err
		}
		req.Log.Warn("cannot reach the server; retrying", "server", req.Server, "err", err, "in", min(max(2*r.wait, time.Second), 30*time.Second))
		if err := r.sleep(ctx); err != nil {
			return nil, err
		}
	}
	if req.Token.CAHash == "" {
		req.Log.Warn("the token has no CA hash, so the server's CA is not pinned: anyone between this node and the server could pose as it; use the full K10… token from the server's token file")
	} else if got := token.HashCA(caPEM); got != req.Token.CAHash {
		return nil, &Error{fmt.Sprintf("the server at %s has CA hash %s, but the token pins %s: the token belongs to another cluster, or something between this node and the server poses as it; check --server and --token (no secret was sent)", req.Server, got, req.Token.CAHash)}
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, &Error{fmt.Sprintf("the server at %s sent no PEM CA certificate at %s; is it a kite server?", req.Server, joinapi.CACertsPath)}
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
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	tlsConfig := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	// A node that joined before proves its name with its certificate too,
	// so it can rejoin after its (bootstrap) token was deleted.
	if cert, err := tls.LoadX509KeyPair(req.Files.AgentCert(KubeletClientName), req.Files.AgentKey(KubeletClientName)); err == nil {
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	for {
		resp, err := post(ctx, client, req.Server+joinapi.JoinPath, req.Token.Credentials(), payload)
		if err == nil {
			j.Response = *resp
			return j, j.check()
		}
		var fatal *Error
		if errors.As(err, &fatal) {
			return nil, err
		}
		req.Log.Warn("join did not complete; retrying", "server", req.Server, "err", err)
		if err := r.sleep(ctx); err != nil {
			return nil, err
		}
	}
}

// fetchCA asks for the CA anonymously. The server is not verified yet:
// the caller checks what it gets against the token's hash.
func fetchCA(ctx context.Context, server string) ([]byte, error) {
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // verified by hash, below in Join
	}}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, server+joinapi.CACertsPath, nil)
	if err != nil {
		return nil, &Error{fmt.Sprintf("--server %q: %v; give it as https://HOST:6443", server, err)}
	}
	resp, err := client.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", server+joinapi.CACertsPath, resp.Status)
	}
	return data, nil
}

func post(ctx context.Context, client *http.Client, url, creds string, payload []byte) (*joinapi.Response, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+creds)
	resp, err := client.Do(r)
	if err != nil {
		var unknownCA x509.UnknownAuthorityError
		var hostname x509.HostnameError
		if errors.As(err, &unknownCA) || errors.As(err, &hostname) {
			return nil, &Error{fmt.Sprintf("the server's certificate does not verify against its CA: %v; check --server (the server's certificate names: add --tls-san on the server)", err)}
		}
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		var out joinapi.Response
		if err := json.Unmarshal(data, &out); err != nil {
			return nil, fmt.Errorf("unreadable join answer: %w", err)
		}
		return &out, nil
	}
	var e joinapi.Error
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(data))
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, fmt.Errorf("the server answered %s: %s", resp.Status, e.Error)
	case resp.StatusCode == http.StatusNotFound:
		return nil, &Error{fmt.Sprintf("%s is not a kite server's join endpoint (%s); check --server", url, resp.Status)}
	default:
		return nil, &Error{e.Error}
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
