package join

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kite-project/kite/datastore/etcd"
	"github.com/kite-project/kite/pkg/joinapi"
	"github.com/kite-project/kite/pkg/token"
)

// ServerJoin is what the server gives a server that joins its control
// plane.
type ServerJoin struct {
	// Settings are this server's, which a joining server must share.
	Settings joinapi.Settings
	// Etcd adds the joining server's etcd member; nil on a server whose
	// cluster is in SQLite, which takes no other server.
	Etcd EtcdMembers
	// AgentToken is the cluster's agent token (full form), if any.
	AgentToken string
}

// EtcdMembers adds and lists etcd members (datastore/etcd's Etcd).
type EtcdMembers interface {
	AddLearner(ctx context.Context, name, peerURL string) (initialCluster string, err error)
	Members(ctx context.Context) ([]string, error)
}

// serverRequest checks a server's request for the server token and reads
// its JSON body (at most limit bytes, named what in an error) into v; when
// it is not ok, the request has been answered with the outcome returned.
func (h *Handler) serverRequest(w http.ResponseWriter, r *http.Request, limit int64, what string, v any) (outcome, bool) {
	var tokenErr error
	if !h.gated(w, r, func() { tokenErr = h.checkServerToken(r) }) {
		return neutral, false
	}
	if tokenErr != nil {
		return h.refused(w, r, "", tokenErr), false
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit)).Decode(v); err != nil {
		h.fail(w, http.StatusBadRequest, "the "+what+" is not valid JSON: "+err.Error())
		return neutral, false
	}
	return neutral, true
}

// serverMember answers, to a server with the server token, whether an
// etcd member is still in the cluster.
func (h *Handler) serverMember(w http.ResponseWriter, r *http.Request) outcome {
	var req joinapi.MemberRequest
	if o, ok := h.serverRequest(w, r, 4<<10, "member request", &req); !ok {
		return o
	}
	if h.Servers.Etcd == nil {
		return h.refused(w, r, req.EtcdName, refuse(http.StatusConflict, "this server keeps its cluster in SQLite"))
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	names, err := h.Servers.Etcd.Members(ctx)
	if errors.Is(err, etcd.ErrNotReady) {
		err = errStarting
	}
	if err != nil {
		return h.refused(w, r, req.EtcdName, err)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(joinapi.MemberResponse{Member: slices.Contains(names, req.EtcdName)})
	return succeeded
}

// joinServer answers a server's request to join the control plane: it
// must bring the server token, and the cluster's settings. It then gets
// the shared CAs and keys, and its etcd member is added as a learner.
func (h *Handler) joinServer(w http.ResponseWriter, r *http.Request) outcome {
	var req joinapi.ServerRequest
	if o, ok := h.serverRequest(w, r, 64<<10, "server join request", &req); !ok {
		return o
	}
	resp, err := h.answerServer(r.Context(), &req)
	if err != nil {
		return h.refused(w, r, req.EtcdName, err)
	}
	h.Log.Info("server joined the control plane", "etcd-member", req.EtcdName, "peer", req.EtcdPeerURL, "source", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
	return succeeded
}

// checkServerToken accepts the server token only: it is the one secret
// that may receive the cluster's CA keys.
func (h *Handler) checkServerToken(r *http.Request) error {
	tok, err := bearerToken(r)
	if err != nil {
		return err
	}
	if _, _, ok := tok.Bootstrap(); ok || tok.User == token.AgentUser {
		return refuse(http.StatusForbidden, "this token joins agents only; a server joins with the server token (<data-dir>/server/token on a server)")
	}
	if !sameSecret([]byte(tok.Password), []byte(h.ServerSecret)) {
		return refuseToken("wrong secret for the server token (a server join)")
	}
	return nil
}

func (h *Handler) answerServer(ctx context.Context, req *joinapi.ServerRequest) (*joinapi.ServerResponse, error) {
	if h.Servers.Etcd == nil {
		return nil, refuse(http.StatusConflict, "this server keeps its cluster in SQLite, which takes no second server; restart it with --cluster-init (that moves its cluster into embedded etcd), then join again")
	}
	if err := compareSettings(h.Servers.Settings, req.Settings); err != nil {
		return nil, err
	}
	if !etcd.ValidName(req.EtcdName) {
		return nil, refuse(http.StatusBadRequest, "etcd member name %q is not valid", req.EtcdName)
	}
	if err := h.checkPeerURL(req.EtcdPeerURL); err != nil {
		return nil, err
	}
	files, err := h.PKI.ReadShared()
	if err != nil {
		return nil, fmt.Errorf("read the shared PKI: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	initial, err := h.Servers.Etcd.AddLearner(ctx, req.EtcdName, req.EtcdPeerURL)
	var inUse *etcd.MemberInUse
	switch {
	case errors.As(err, &inUse):
		return nil, refuse(http.StatusConflict, "%v: a server at that address is still a member; if it was reinstalled, delete its node first (kite kubectl delete node NAME removes its member), then join again", err)
	case errors.Is(err, etcd.ErrNotReady):
		return nil, errStarting
	case err != nil:
		return nil, fmt.Errorf("add the etcd learner: %w", err)
	}
	return &joinapi.ServerResponse{Files: files, AgentToken: h.Servers.AgentToken, EtcdInitialCluster: initial}, nil
}

// checkPeerURL takes https://IP:PORT with an address a node could have.
func (h *Handler) checkPeerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Path != "" || u.User != nil {
		return refuse(http.StatusBadRequest, "etcd peer URL %q is not https://IP:PORT", s)
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || u.Port() == "" {
		return refuse(http.StatusBadRequest, "etcd peer URL %q is not https://IP:PORT", s)
	}
	r := h.Rules
	if !ip.IsGlobalUnicast() || r.ServiceCIDR != nil && r.ServiceCIDR.Contains(ip) || r.ClusterCIDR != nil && r.ClusterCIDR.Contains(ip) {
		return refuse(http.StatusBadRequest, "etcd peer URL %s: not an address a server can have (loopback, link-local, or in the service or cluster CIDR); pass --node-ip with the server's own address", s)
	}
	return nil
}

// compareSettings refuses a server whose settings differ from the
// cluster's, naming each flag and both values.
func compareSettings(mine, theirs joinapi.Settings) error {
	var diffs []string
	differ := func(flag, cluster, joining string) {
		if cluster != joining {
			diffs = append(diffs, fmt.Sprintf("%s is %s on the cluster but %s on this server", flag, orNone(cluster), orNone(joining)))
		}
	}
	differ("--cluster-cidr", mine.ClusterCIDR, theirs.ClusterCIDR)
	differ("--service-cidr", mine.ServiceCIDR, theirs.ServiceCIDR)
	differ("--cluster-dns", mine.ClusterDNS, theirs.ClusterDNS)
	differ("--cluster-domain", mine.ClusterDomain, theirs.ClusterDomain)
	differ("--disable (of the add-ons that change the API)", strings.Join(mine.Disabled, ","), strings.Join(theirs.Disabled, ","))
	if len(diffs) > 0 {
		return refuse(http.StatusConflict, "%s; start this server with the cluster's values", strings.Join(diffs, "; "))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
