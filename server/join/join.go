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
)

// Handler serves the join endpoints.
type Handler struct {
	PKI    pki.PKI
	Config joinapi.Config
	// ServerSecret and AgentSecret are the secrets of the server token and
	// of the agent token (empty: no agent token).
	ServerSecret, AgentSecret string
	// Client reaches the API server as an administrator: bootstrap tokens
	// and node passwords are Secrets.
	Client kubernetes.Interface
	// Rules say which names and addresses a node may have.
	Rules NodeRules
	// Tunnel serves joinapi.ConnectPath (nil: not served).
	Tunnel http.Handler
	Log    *slog.Logger

	limiter failures
}

// Wrap serves the join paths and hands every other request to next.
func (h *Handler) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == joinapi.CACertsPath && r.Method == http.MethodGet:
			h.caCerts(w)
		case r.URL.Path == joinapi.JoinPath && r.Method == http.MethodPost:
			h.join(w, r)
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
		h.fail(w, http.StatusInternalServerError, "the server cannot read its CA certificate")
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(ca)
}

// refusal is a join refused for a reason the node's operator must fix.
type refusal struct {
	status int
	msg    string
}

func (r *refusal) Error() string { return r.msg }

func refuse(status int, format string, a ...any) error {
	return &refusal{status: status, msg: fmt.Sprintf(format, a...)}
}

func (h *Handler) join(w http.ResponseWriter, r *http.Request) {
	source := sourceIP(r)
	if wait := h.limiter.blocked(source, time.Now()); wait > 0 {
		h.Log.Warn("join refused: too many failures from this address", "source", r.RemoteAddr)
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		h.fail(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed join attempts from %s; wait %s and check the token", source, wait.Round(time.Second)))
		return
	}
	var req joinapi.Request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		h.fail(w, http.StatusBadRequest, "the join request is not valid JSON: "+err.Error())
		return
	}
	resp, err := h.answer(r, &req)
	if err != nil {
		var rf *refusal
		if !errors.As(err, &rf) {
			h.Log.Error("join failed", "node", req.NodeName, "source", r.RemoteAddr, "err", err)
			h.fail(w, http.StatusInternalServerError, "the server could not complete the join: "+err.Error())
			return
		}
		if rf.status == http.StatusUnauthorized || rf.status == http.StatusForbidden {
			h.limiter.fail(source, time.Now())
		}
		h.Log.Warn("join refused", "node", req.NodeName, "source", r.RemoteAddr, "reason", rf.msg)
		h.fail(w, rf.status, rf.msg)
		return
	}
	h.limiter.forget(source)
	h.Log.Info("node joined", "node", req.NodeName, "source", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
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
	if err := h.authenticate(ctx, r, req.NodeName); err != nil {
		return nil, err
	}
	if err := h.checkNodePassword(ctx, req.NodeName, req.NodePassword); err != nil {
		return nil, err
	}
	serverCA, err := os.ReadFile(h.PKI.Cert(pki.ServerCA))
	if err != nil {
		return nil, err
	}
	clientCA, err := os.ReadFile(h.PKI.Cert(pki.ClientCA))
	if err != nil {
		return nil, err
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

// authenticate accepts the node's own kubelet client certificate (a node
// that joined before: its token may have been deleted since), the server
// token, the agent token, or a bootstrap token that is neither expired nor
// deleted.
func (h *Handler) authenticate(ctx context.Context, r *http.Request, node string) error {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		user, err := h.PKI.VerifyClient(r.TLS.PeerCertificates[0], r.TLS.PeerCertificates[1:], time.Now())
		if err == nil && user == "system:node:"+node {
			return nil
		}
	}
	creds, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return refuse(http.StatusUnauthorized, "no token given; pass --token (the server's token file, or one from 'kite token create')")
	}
	tok, err := token.Parse(creds)
	if err != nil {
		return refuse(http.StatusUnauthorized, "the token is malformed: %v", err)
	}
	if id, secret, ok := tok.Bootstrap(); ok {
		return h.checkBootstrap(ctx, id, secret)
	}
	want := h.ServerSecret
	if tok.User == token.AgentUser {
		want = h.AgentSecret
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(tok.Password), []byte(want)) != 1 {
		return refuse(http.StatusUnauthorized, "the server refused the token: wrong secret; copy the token from the server's <data-dir>/server/token (or agent-token)")
	}
	return nil
}

// checkBootstrap checks a bootstrap token against its Secret, as the API
// server's own bootstrap authenticator would.
func (h *Handler) checkBootstrap(ctx context.Context, id, secret string) error {
	s, err := h.Client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+id, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return refuse(http.StatusUnauthorized, "the server refused the token: bootstrap token %s does not exist (deleted or expired); make a new one with 'kite token create'", id)
	}
	if err != nil {
		return err
	}
	if s.Type != corev1.SecretTypeBootstrapToken || subtle.ConstantTimeCompare(s.Data["token-secret"], []byte(secret)) != 1 {
		return refuse(http.StatusUnauthorized, "the server refused the token: wrong secret for bootstrap token %s", id)
	}
	if string(s.Data["usage-bootstrap-authentication"]) != "true" {
		return refuse(http.StatusUnauthorized, "the server refused the token: bootstrap token %s may not be used to join", id)
	}
	if exp := string(s.Data["expiration"]); exp != "" {
		t, err := time.Parse(time.RFC3339, exp)
		if err != nil || time.Now().After(t) {
			return refuse(http.StatusUnauthorized, "the server refused the token: bootstrap token %s expired at %s; make a new one with 'kite token create'", id, exp)
		}
	}
	return nil
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
