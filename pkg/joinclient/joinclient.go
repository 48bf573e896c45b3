// Package joinclient is the joining side's HTTP of the join API
// (pkg/joinapi), shared by a joining node (agent/join) and a joining
// server (server): it fetches the server's CA and checks it against the
// hash the token pins before any secret is sent, posts with the token, and
// retries with back-off while the server cannot be reached.
package joinclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/kite-project/kite/pkg/joinapi"
	"github.com/kite-project/kite/pkg/token"
)

// Error is a refusal that retrying cannot mend: a bad token, a CA that is
// not the pinned one, a name taken by another node. The caller ends on it.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Retry backs off from 1 s to 30 s.
type Retry struct{ wait time.Duration }

// Next is the wait before the next attempt.
func (r *Retry) Next() time.Duration { return min(max(2*r.wait, time.Second), 30*time.Second) }

// Sleep waits Next, or until ctx ends.
func (r *Retry) Sleep(ctx context.Context) error {
	r.wait = r.Next()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.wait):
		return nil
	}
}

// PinnedRoots fetches the server's CA, retrying while the server cannot be
// reached (and saying so), and checks it against the token's CA hash. A
// token without a hash pins nothing: pinned says whether it did.
func PinnedRoots(ctx context.Context, server string, tok token.Token, log *slog.Logger) (roots *x509.CertPool, pinned bool, err error) {
	var r Retry
	var caPEM []byte
	for {
		caPEM, err = fetchCA(ctx, server)
		if err == nil {
			break
		}
		var fatal *Error
		if errors.As(err, &fatal) {
			return nil, false, err
		}
		log.Warn("cannot reach the server; retrying", "server", server, "err", err, "in", r.Next())
		if err := r.Sleep(ctx); err != nil {
			return nil, false, err
		}
	}
	if tok.CAHash != "" {
		if got := token.HashCA(caPEM); got != tok.CAHash {
			return nil, false, &Error{fmt.Sprintf("the server at %s has CA hash %s, but the token pins %s: the token belongs to another cluster, or something between this host and the server poses as it; check --server and --token (no secret was sent)", server, got, tok.CAHash)}
		}
	}
	roots = x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, false, &Error{fmt.Sprintf("the server at %s sent no PEM CA certificate at %s; is it a kite server?", server, joinapi.CACertsPath)}
	}
	return roots, tok.CAHash != "", nil
}

// fetchCA asks for the CA anonymously. The server is not verified yet:
// PinnedRoots checks what it gets against the token's hash.
func fetchCA(ctx context.Context, server string) ([]byte, error) {
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // verified by hash, in PinnedRoots
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

// Post sends payload (JSON) to url with the token's credentials and reads
// the answer into a T. A refusal the caller must fix is an *Error; a busy
// or failing server, or no answer, is an error to retry on.
func Post[T any](ctx context.Context, client *http.Client, url, creds string, payload any) (*T, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
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
		var out T
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
