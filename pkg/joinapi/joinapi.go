// Package joinapi is what a joining node and the server say to each other
// on the server's port (6443), in front of the API server: the paths, and
// the JSON of the join request and its answer. The server implements it in
// server/join, the agent calls it from agent/join.
package joinapi

// Paths served before the API server's own handlers.
const (
	// CACertsPath answers, to anyone, the server CA certificate: the file
	// whose SHA-256 a K10 token pins.
	CACertsPath = "/cacerts"
	// JoinPath takes a Request (POST, JSON) and answers a Response.
	JoinPath = "/v1-kite/join"
	// ServerJoinPath takes a ServerRequest (POST, JSON, the server token
	// only) and answers a ServerResponse: what a new server needs to join
	// the control plane.
	ServerJoinPath = "/v1-kite/server-join"
	// ServerMemberPath takes a MemberRequest (POST, JSON, the server token)
	// and answers a MemberResponse: whether a server's etcd member is still
	// in the cluster (a restarting server whose node was deleted is not).
	ServerMemberPath = "/v1-kite/server-member"
	// ConnectPath is the websocket tunnel from a node to its server, which
	// carries the API server's calls to that node's kubelet.
	ConnectPath = "/v1-kite/connect"
)

// Names of the certificates a node asks for; each is signed for the public
// key of a private key that never leaves the node.
const (
	KubeletClient  = "kubelet-client"  // system:node:<name>, group system:nodes
	KubeletServing = "kubelet-serving" // the kubelet's HTTPS port: SANs name and IPs
	KubeProxy      = "kube-proxy-client"
)

// Request is a node's join request. It is authenticated either by a token
// (Authorization: Bearer <credentials of the token>) or by the node's
// current kubelet client certificate.
type Request struct {
	NodeName string   `json:"nodeName"`
	NodeIPs  []string `json:"nodeIPs"`
	// NodePassword proves the node is the one that first took NodeName.
	NodePassword string `json:"nodePassword"`
	// CSRs are PEM certificate requests, by certificate name.
	CSRs map[string]string `json:"csrs"`
}

// Response is the server's answer to a good Request.
type Response struct {
	// Certificates are PEM certificates, by the names of the request's CSRs.
	Certificates map[string]string `json:"certificates"`
	// ServerCA verifies the API server and kubelet serving certificates.
	ServerCA string `json:"serverCA"`
	// ClientCA verifies client certificates (the kubelet checks the API
	// server's calls with it).
	ClientCA string `json:"clientCA"`
	Config   Config `json:"config"`
}

// Config is the cluster's settings that every node needs.
type Config struct {
	ClusterCIDR    string `json:"clusterCIDR"`
	ServiceCIDR    string `json:"serviceCIDR"`
	ClusterDNS     string `json:"clusterDNS"`
	ClusterDomain  string `json:"clusterDomain"`
	FlannelBackend string `json:"flannelBackend"` // vxlan, host-gw or none
	// Servers are the API servers' addresses, host:port.
	Servers []string `json:"servers"`
}

// ServerRequest is a new server's request to join the control plane.
type ServerRequest struct {
	// Settings are the joining server's; they must be the cluster's.
	Settings Settings `json:"settings"`
	// EtcdName and EtcdPeerURL are its etcd member's name and peer URL
	// (https://IP:2380), added to etcd as a learner.
	EtcdName    string `json:"etcdName"`
	EtcdPeerURL string `json:"etcdPeerURL"`
}

// Settings are the server settings that must agree on every server.
type Settings struct {
	ClusterCIDR   string `json:"clusterCIDR"`
	ServiceCIDR   string `json:"serviceCIDR"`
	ClusterDNS    string `json:"clusterDNS"`
	ClusterDomain string `json:"clusterDomain"`
	// Disabled are the left-out add-ons that change the API (their kinds
	// and APIServices), in the order of config.AddOns.
	Disabled []string `json:"disabled"`
}

// ServerResponse is the answer to a good ServerRequest.
type ServerResponse struct {
	// Files are what every server shares, by file name in the server's
	// TLS folder: the CAs' certificates and keys, the service-account key.
	Files map[string]string `json:"files"`
	// AgentToken is the cluster's agent token, if it has one.
	AgentToken string `json:"agentToken,omitempty"`
	// EtcdInitialCluster is etcd's --initial-cluster for the new member:
	// name=peerURL of every member, the new one included.
	EtcdInitialCluster string `json:"etcdInitialCluster"`
}

// MemberRequest asks whether an etcd member is in the cluster.
type MemberRequest struct {
	EtcdName string `json:"etcdName"`
}

// MemberResponse answers a MemberRequest.
type MemberResponse struct {
	Member bool `json:"member"`
}

// Error is the body of every refusal: one line, naming the problem and the
// fix.
type Error struct {
	Error string `json:"error"`
}
