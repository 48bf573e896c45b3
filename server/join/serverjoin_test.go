package join

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kite-project/kite/pkg/joinapi"
	"github.com/kite-project/kite/server/pki"
)

// fakeMembers is an etcd that takes every learner.
type fakeMembers struct{ added []string }

func (f *fakeMembers) AddLearner(_ context.Context, name, peerURL string) (string, error) {
	f.added = append(f.added, name+"="+peerURL)
	return "s1=https://198.18.1.11:2380," + name + "=" + peerURL, nil
}

func (f *fakeMembers) Members(context.Context) ([]string, error) { return []string{"s1"}, nil }

var clusterSettings = joinapi.Settings{ClusterCIDR: "10.42.0.0/16", ServiceCIDR: "10.43.0.0/16", ClusterDNS: "10.43.0.10", ClusterDomain: "cluster.local"}

func postServer(h *Handler, path, creds string, body any) (*httptest.ResponseRecorder, string) {
	data, _ := json.Marshal(body)
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(data))
	r.RemoteAddr = net.JoinHostPort("198.18.1.12", "40000")
	return serve(h, r, creds)
}

func TestServerJoin(t *testing.T) {
	h, _ := testHandler(t)
	if err := h.PKI.EnsureEtcd(pki.SANs{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, services, _ := net.ParseCIDR("10.43.0.0/16")
	_, pods, _ := net.ParseCIDR("10.42.0.0/16")
	h.Rules = NodeRules{ClusterDomain: "cluster.local", ServiceCIDR: services, ClusterCIDR: pods}
	members := &fakeMembers{}
	h.Servers = ServerJoin{Settings: clusterSettings, Etcd: members, AgentToken: "K10abc::node:agent-secret"}
	good := joinapi.ServerRequest{Settings: clusterSettings, EtcdName: "s2-0a1b2c3d", EtcdPeerURL: "https://198.18.1.12:2380"}

	// Only the server token may receive the keys.
	for _, c := range []struct {
		name, creds string
		status      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong secret", "server:wrong", http.StatusUnauthorized},
		{"agent token", "node:agent-secret", http.StatusForbidden},
		{"bootstrap token", "abcdef.0123456789abcdef", http.StatusForbidden},
	} {
		w, msg := postServer(h, joinapi.ServerJoinPath, c.creds, good)
		if w.Code != c.status || strings.Contains(w.Body.String(), "PRIVATE KEY") {
			t.Errorf("%s: %d %q, want %d and no key", c.name, w.Code, msg, c.status)
		}
	}
	if len(members.added) != 0 {
		t.Fatalf("a refused join added etcd members: %v", members.added)
	}

	// Settings that differ are named, with both values.
	bad := good
	bad.Settings.ClusterCIDR = "10.52.0.0/16"
	bad.Settings.Disabled = []string{"metrics-server"}
	w, msg := postServer(h, joinapi.ServerJoinPath, "server:server-secret", bad)
	if w.Code != http.StatusConflict ||
		!strings.Contains(msg, "--cluster-cidr is 10.42.0.0/16 on the cluster but 10.52.0.0/16 on this server") ||
		!strings.Contains(msg, "--disable (of the add-ons that change the API) is none on the cluster but metrics-server on this server") {
		t.Errorf("mismatched settings: %d %q", w.Code, msg)
	}
	for _, url := range []string{"http://198.18.1.12:2380", "https://127.0.0.1:2380", "https://10.43.0.5:2380", "https://198.18.1.12"} {
		req := good
		req.EtcdPeerURL = url
		if w, msg := postServer(h, joinapi.ServerJoinPath, "server:server-secret", req); w.Code != http.StatusBadRequest {
			t.Errorf("peer URL %s: %d %q", url, w.Code, msg)
		}
	}

	// A good join: the shared files, the agent token, the initial cluster.
	w, msg = postServer(h, joinapi.ServerJoinPath, "server:server-secret", good)
	if w.Code != http.StatusOK {
		t.Fatalf("good join: %d %q", w.Code, msg)
	}
	var resp joinapi.ServerResponse
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Files) != len(pki.SharedFiles()) || !strings.Contains(resp.Files[pki.EtcdPeerCA+".key"], "PRIVATE KEY") {
		t.Errorf("files %d, want %d with the CA keys", len(resp.Files), len(pki.SharedFiles()))
	}
	if resp.EtcdInitialCluster != "s1=https://198.18.1.11:2380,s2-0a1b2c3d=https://198.18.1.12:2380" || resp.AgentToken != "K10abc::node:agent-secret" {
		t.Errorf("answer %+v", resp)
	}

	// Membership, asked by a restarting server.
	var member joinapi.MemberResponse
	w, _ = postServer(h, joinapi.ServerMemberPath, "server:server-secret", joinapi.MemberRequest{EtcdName: "s3-1"})
	if json.Unmarshal(w.Body.Bytes(), &member); w.Code != http.StatusOK || member.Member {
		t.Errorf("a removed member: %d %s", w.Code, w.Body.String())
	}
	if w, _ = postServer(h, joinapi.ServerMemberPath, "node:agent-secret", joinapi.MemberRequest{EtcdName: "s1"}); w.Code != http.StatusForbidden {
		t.Errorf("membership asked with the agent token: %d", w.Code)
	}

	// A server on SQLite takes no other server.
	h.Servers.Etcd = nil
	if w, msg := postServer(h, joinapi.ServerJoinPath, "server:server-secret", good); w.Code != http.StatusConflict || !strings.Contains(msg, "--cluster-init") {
		t.Errorf("SQLite server: %d %q", w.Code, msg)
	}
}
