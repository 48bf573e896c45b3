// Package join serves, on the API server's port and in front of it, what a
// node needs to join: the CA certificate (to anyone; the token pins its
// hash), and, for a good token or the node's own client certificate, the
// node's certificates and the cluster's settings. It also keeps node names
// unique: each node proves its name with a password whose hash the server
// keeps in a kube-system Secret.
package join

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kite-project/kite/pkg/joinapi"
	"github.com/kite-project/kite/pkg/token"
	"github.com/kite-project/kite/server/pki"
	"github.com/kite-project/kite/server/tokens"
)

// Handler serves the join endpoints.
//
// A join attempt is checked, in this order, before anything costs more than
// a map lookup (the policy is in limit.go): its source address's budget of
// attempts, the cap on attempts not yet authenticated, then its token (a
// bootstrap token from Tokens, in memory) or the node's client certificate.
// Only then is its body read, and only an authenticated join makes API
// requests, through Client, the join path's own.
type Handler struct {
	PKI    pki.PKI
	Config joinapi.Config
	// ServerSecret and AgentSecret are the secrets of the server token and
	// of the agent token (empty: no agent token).
	ServerSecret, AgentSecret string
	// Client reaches the API server as an administrator, for node
	// passwords (Secrets). It is the join path's own, with its own rate
	// limit: joins never wait on, nor delay, the server's other
	// controllers.
	Client kubernetes.Interface
	// Tokens finds bootstrap tokens (a TokenCache; nil: bootstrap tokens
	// are answered as while the server starts).
	Tokens BootstrapTokens
	// Rules say which names and addresses a node may have.
	Rules NodeRules
	// Removed, if set, says whether a certificate is a removed node's
	// (server/noderemoval): such a node is not let in by its certificate.
	// RemovalsLoaded says whether Removed knows yet: until then a node
	// that comes with its certificate only is asked to retry.
	Removed        func(*x509.Certificate) bool
	RemovalsLoaded func() bool
	// Servers: what a joining server needs (server.go).
	Servers ServerJoin
	// Tunnel serves joinapi.ConnectPath (nil: not served).
	Tunnel http.Handler
	Log    *slog.Logger
	// MaxUnauthenticated caps the join attempts being authenticated at
	// once (0: defaultMaxUnauthenticated).
	MaxUnauthenticated int

	limiter failures
	gate    gate
	shed    sampler
}

// BootstrapTokens finds the Secret of a bootstrap token by its ID.
type BootstrapTokens interface {
	// Bootstrap returns the Secret of token id, nil if there is none, or
	// errStarting while the tokens are not known yet.
	Bootstrap(id string) (*corev1.Secret, error)
}

// Wrap serves the join paths and hands every other request to next.
func (h *Handler) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == joinapi.CACertsPath && r.Method == http.MethodGet:
			h.caCerts(w)
		case r.URL.Path == joinapi.JoinPath && r.Method == http.MethodPost:
			h.join(w, r)
		case r.URL.Path == joinapi.ServerJoinPath && r.Method == http.MethodPost:
			h.limited(w, r, func() outcome { return h.joinServer(w, r) })
		case r.URL.Path == joinapi.ServerMemberPath && r.Method == http.MethodPost:
			h.limited(w, r, func() outcome { return h.serverMember(w, r) })
		case r.URL.Path == joinapi.ConnectPath && h.Tunnel != nil:
			h.Tunnel.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (h *Handler) caCerts(w http.ResponseWriter) {
	ca, err := os.ReadFile(h.PKI.Cert(pki.ServerCA))
	if err != nil {
		h.Log.Error("cannot serve the CA certificate", "err", err)
		h.fail(w, http.StatusInternalServerError, internalError)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(ca)
}

// What a client is told. Every bad token gets the same answer, so that
// nobody learns which bootstrap token IDs exist nor what was wrong; the
// server's log has the reason, with the source address.
const (
	badToken      = "the server refused the token; copy the token from the server's <data-dir>/server/token or make one with 'kite token create'"
	internalError = "the server could not complete the join; see its log"
	starting      = "the server is starting; retry in a moment"
	busy          = "the server is busy with other join attempts; retry in a moment"
)

// errStarting: bootstrap tokens cannot be checked yet (their cache has not
// synced). The agent retries a 503.
var errStarting = errors.New("bootstrap tokens are not loaded yet")

// refusal is a join refused for a reason the node's operator must fix.
// reason, if set, is logged instead of msg, which the client gets.
type refusal struct {
	status int
	msg    string
	reason string
}

func (r *refusal) Error() string {
	if r.reason != "" {
		return r.reason
	}
	return r.msg
}

func refuse(status int, format string, a ...any) error {
	return &refusal{status: status, msg: fmt.Sprintf(format, a...)}
}

// refuseToken refuses a bad token with the one answer for every bad token.
func refuseToken(format string, a ...any) error {
	return &refusal{status: http.StatusUnauthorized, msg: badToken, reason: fmt.Sprintf(format, a...)}
}

// limited runs serve for a join attempt that its source's budget allows,
// and counts its outcome; an attempt over the budget is answered here.
func (h *Handler) limited(w http.ResponseWriter, r *http.Request, serve func() outcome) {
	source := sourceKey(r)
	attempt, wait := h.limiter.begin(source, time.Now())
	if attempt == nil {
		h.Log.Debug("join refused: too many attempts from this address", "source", r.RemoteAddr, "wait", wait)
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		h.fail(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed join attempts from %s; wait %s and check the token", source, wait.Round(time.Second)))
		return
	}
	result := serve()
	if blocked := h.limiter.end(source, attempt, result, time.Now()); blocked > 0 {
		h.Log.Warn("join attempts from this address are refused for a while: too many failures", "source", source, "wait", blocked)
	}
}

// gated runs authenticate within the cap on attempts being authenticated
// at once; false: over the cap, answered here.
func (h *Handler) gated(w http.ResponseWriter, r *http.Request, authenticate func()) bool {
	if !h.gate.enter(h.maxUnauthenticated()) {
		if n := h.shed.add(time.Now()); n > 0 {
			h.Log.Warn("join attempts shed: too many at once", "max", h.maxUnauthenticated(), "shed", n, "source", r.RemoteAddr)
		}
		w.Header().Set("Retry-After", "1")
		h.fail(w, http.StatusTooManyRequests, busy)
		return false
	}
	defer h.gate.leave()
	authenticate()
	return true
}

func (h *Handler) join(w http.ResponseWriter, r *http.Request) {
	h.limited(w, r, func() outcome { return h.joinNode(w, r) })
}

func (h *Handler) joinNode(w http.ResponseWriter, r *http.Request) outcome {
	var certNode string
	var deferred bool
	var tokenErr error
	if !h.gated(w, r, func() {
		certNode, deferred = h.certNode(r)
		tokenErr = h.checkToken(r)
	}) {
		return neutral
	}
	if tokenErr != nil && deferred {
		tokenErr = errStarting
	}
	if tokenErr != nil && certNode == "" {
		return h.refused(w, r, "", tokenErr)
	}

	// Authenticated: by the token, or by the certificate if the request
	// is for the certificate's node.
	var req joinapi.Request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		h.fail(w, http.StatusBadRequest, "the join request is not valid JSON: "+err.Error())
		return neutral
	}
	if tokenErr != nil && req.NodeName != certNode {
		var rf *refusal
		if errors.As(tokenErr, &rf) {
			tokenErr = refuseToken("a client certificate of node %s for a join as %q, and %s", certNode, req.NodeName, rf.reason)
		}
		return h.refused(w, r, req.NodeName, tokenErr)
	}
	resp, err := h.answer(r, &req)
	if err != nil {
		return h.refused(w, r, req.NodeName, err)
	}
	h.Log.Info("node joined", "node", req.NodeName, "source", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
	return succeeded
}

// refused answers a join that did not succeed: a refusal as it says; the
// server starting with 503; anything else, the server's own trouble, with
// a fixed 500 and the details in the log only. It returns what the attempt
// counts as for its source's limit.
func (h *Handler) refused(w http.ResponseWriter, r *http.Request, node string, err error) outcome {
	var rf *refusal
	switch {
	case errors.Is(err, errStarting):
		h.Log.Info("join deferred: the server is starting", "node", node, "source", r.RemoteAddr)
		w.Header().Set("Retry-After", "2")
		h.fail(w, http.StatusServiceUnavailable, starting)
		return neutral
	case !errors.As(err, &rf):
		h.Log.Error("join failed", "node", node, "source", r.RemoteAddr, "err", err)
		h.fail(w, http.StatusInternalServerError, internalError)
		return neutral
	}
	h.Log.Warn("join refused", "node", node, "source", r.RemoteAddr, "status", rf.status, "reason", rf.Error())
	h.fail(w, rf.status, rf.msg)
	if rf.status == http.StatusUnauthorized || rf.status == http.StatusForbidden {
		return failed
	}
	return neutral
}

func (h *Handler) maxUnauthenticated() int {
	if h.MaxUnauthenticated > 0 {
		return h.MaxUnauthenticated
	}
	return defaultMaxUnauthenticated
}

func (h *Handler) answer(r *http.Request, req *joinapi.Request) (*joinapi.Response, error) {
	var ips []net.IP
	for _, s := range req.NodeIPs {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, refuse(http.StatusBadRequest, "node IP %q is not an IP address; check --node-ip", s)
		}
		ips = append(ips, ip)
	}
	if err := h.Rules.check(req.NodeName, ips, net.ParseIP(sourceIP(r))); err != nil {
		return nil, err
	}
	if len(req.NodePassword) < 16 {
		return nil, refuse(http.StatusBadRequest, "the join request has no node password")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := h.checkNodePassword(ctx, req.NodeName, req.NodePassword); err != nil {
		return nil, err
	}
	serverCA, err := os.ReadFile(h.PKI.Cert(pki.ServerCA))
	if err != nil {
		return nil, fmt.Errorf("read the server CA: %w", err)
	}
	clientCA, err := os.ReadFile(h.PKI.Cert(pki.ClientCA))
	if err != nil {
		return nil, fmt.Errorf("read the client CA: %w", err)
	}
	resp := &joinapi.Response{Certificates: map[string]string{}, ServerCA: string(serverCA), ClientCA: string(clientCA), Config: h.Config}
	for _, name := range []string{joinapi.KubeletClient, joinapi.KubeletServing, joinapi.KubeProxy} {
		csr, ok := req.CSRs[name]
		if !ok {
			return nil, refuse(http.StatusBadRequest, "the join request has no certificate request for %s", name)
		}
		cert, err := h.PKI.SignNodeCert(name, req.NodeName, ips, []byte(csr), time.Now())
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "certificate request: %v", err)
		}
		resp.Certificates[name] = string(cert)
	}
	return resp, nil
}

// certNode returns the node whose kubelet client certificate the request
// carries ("" if none, or not one of this cluster's): a node that joined
// before may join again under its own name, even once its (bootstrap)
// token is deleted or expired; a removed node may not. deferred: the
// certificate is good, but the removals are not known yet.
func (h *Handler) certNode(r *http.Request) (node string, deferred bool) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", false
	}
	user, err := h.PKI.VerifyClient(r.TLS.PeerCertificates[0], r.TLS.PeerCertificates[1:], time.Now())
	node, ok := strings.CutPrefix(user, "system:node:")
	if err != nil || !ok {
		return "", false
	}
	if h.Removed != nil && h.Removed(r.TLS.PeerCertificates[0]) {
		// A removed node joins again only with a token.
		return "", h.RemovalsLoaded != nil && !h.RemovalsLoaded()
	}
	return node, false
}

// maxCredentials bounds what is parsed of the Authorization header (a
// bootstrap token is 23 bytes; a server secret of the user's choice is
// rarely over 100).
const maxCredentials = 1024

// bearerToken parses the request's bearer token; a missing, oversized or
// malformed one is refused with the one answer for every bad token.
func bearerToken(r *http.Request) (token.Token, error) {
	creds, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return token.Token{}, refuseToken("no bearer token")
	}
	if len(creds) > maxCredentials {
		return token.Token{}, refuseToken("a token of %d bytes", len(creds))
	}
	tok, err := token.Parse(creds)
	if err != nil {
		return token.Token{}, refuseToken("malformed token: %v", err)
	}
	return tok, nil
}

// checkToken checks the request's bearer token without any API request:
// the server token, the agent token, or a bootstrap token that is neither
// expired nor deleted. It returns nil, errStarting, an internal error, or
// a refusal with the one answer for every bad token.
func (h *Handler) checkToken(r *http.Request) error {
	tok, err := bearerToken(r)
	if err != nil {
		return err
	}
	if id, secret, ok := tok.Bootstrap(); ok {
		return h.checkBootstrap(id, secret, time.Now())
	}
	want, which := h.ServerSecret, "server"
	if tok.User == token.AgentUser {
		want, which = h.AgentSecret, "agent"
	}
	if want == "" {
		return refuseToken("an agent token, but this server has none")
	}
	if !sameSecret([]byte(tok.Password), []byte(want)) {
		return refuseToken("wrong secret for the %s token", which)
	}
	return nil
}

// checkBootstrap checks a bootstrap token against its Secret, as the API
// server's own bootstrap authenticator would: a lookup in memory, then a
// constant-time comparison.
func (h *Handler) checkBootstrap(id, secret string, now time.Time) error {
	if h.Tokens == nil {
		return errStarting
	}
	s, err := h.Tokens.Bootstrap(id)
	if err != nil {
		return err
	}
	if s == nil {
		return refuseToken("bootstrap token %s does not exist (deleted or expired)", id)
	}
	if s.Type != tokens.SecretType || string(s.Data[tokens.KeyID]) != id || !sameSecret(s.Data[tokens.KeySecret], []byte(secret)) {
		return refuseToken("wrong secret for bootstrap token %s", id)
	}
	if string(s.Data[tokens.KeyUsageAuthentication]) != "true" {
		return refuseToken("bootstrap token %s may not be used to join (%s is not \"true\")", id, tokens.KeyUsageAuthentication)
	}
	if exp := string(s.Data[tokens.KeyExpiration]); exp != "" {
		t, err := time.Parse(time.RFC3339, exp)
		if err != nil || now.After(t) {
			return refuseToken("bootstrap token %s expired at %s", id, exp)
		}
	}
	return nil
}

// sameSecret compares two secrets in constant time, their lengths too.
func sameSecret(a, b []byte) bool {
	x, y := sha256.Sum256(a), sha256.Sum256(b)
	return subtle.ConstantTimeCompare(x[:], y[:]) == 1
}

// PasswordSecretName is the kube-system Secret that keeps node's password
// hash.
func PasswordSecretName(node string) string { return node + ".node-password.kite" }

// checkNodePassword lets a node use its name if it first took it, or if
// no node has taken it yet (it then takes it).
func (h *Handler) checkNodePassword(ctx context.Context, node, password string) error {
	sum := sha256.Sum256([]byte(password))
	hash := hex.EncodeToString(sum[:])
	secrets := h.Client.CoreV1().Secrets("kube-system")
	for attempt := 0; attempt < 2; attempt++ {
		s, err := secrets.Get(ctx, PasswordSecretName(node), metav1.GetOptions{})
		if err == nil {
			if subtle.ConstantTimeCompare(s.Data["hash"], []byte(hash)) != 1 {
				return refuse(http.StatusConflict, "node name %q is taken by another node (its node password differs); give this node another --node-name or pass --with-node-id, or if the old node is gone for good: kite kubectl delete node %s; kite kubectl -n kube-system delete secret %s", node, node, PasswordSecretName(node))
			}
			return nil
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: PasswordSecretName(node), Labels: map[string]string{"kite.io/node-password": "true"}},
			Type:       "kite.io/node-password",
			Data:       map[string][]byte{"hash": []byte(hash)},
		}, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return err // nil once created
		}
		// Another join took the name meanwhile: compare with its password.
	}
	return refuse(http.StatusConflict, "node name %q is being claimed by two nodes at once; give each its own --node-name", node)
}

func (h *Handler) fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(joinapi.Error{Error: msg})
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// sourceKey is what the limiter counts attempts by: the client's IPv4
// address, or its IPv6 /64 (one host easily has a whole /64).
func sourceKey(r *http.Request) string {
	host := sourceIP(r)
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() != nil {
		return host
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}
