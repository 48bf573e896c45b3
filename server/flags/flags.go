// Package flags renders the command lines kite gives the upstream control
// plane components: kite's defaults, then the user's pass-through flags,
// which replace a default of the same name.
package flags

import (
	"strconv"

	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/server/pki"
)

// Inputs are the values decided at start rather than configured.
type Inputs struct {
	AdvertiseIP  string
	EtcdEndpoint string // kine's socket, or embedded etcd's loopback URL
	// EtcdTLS: the etcd CA and the API server's client certificate for
	// embedded etcd; empty for kine (a unix socket only root can open).
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	// LeaderElect: several servers may run (embedded etcd), so the
	// scheduler and the controller-manager elect one leader.
	LeaderElect                 bool
	SchedulerKubeconfig         string
	ControllerManagerKubeconfig string
}

// APIServer returns kube-apiserver's flags.
func APIServer(cfg *config.Server, in Inputs) []string {
	p := pki.PKI{Dir: cfg.Layout().ServerTLSDir()}
	issuer := "https://kubernetes.default.svc." + cfg.ClusterDomain
	var etcdTLS []config.Arg
	for _, a := range []config.Arg{
		{Name: "etcd-cafile", Value: in.EtcdCAFile},
		{Name: "etcd-certfile", Value: in.EtcdCertFile},
		{Name: "etcd-keyfile", Value: in.EtcdKeyFile},
	} {
		if a.Value != "" {
			etcdTLS = append(etcdTLS, a)
		}
	}
	return config.MergeArgs(append([]config.Arg{
		{Name: "advertise-address", Value: in.AdvertiseIP},
		{Name: "bind-address", Value: cfg.BindAddress},
		{Name: "secure-port", Value: strconv.Itoa(cfg.HTTPSPort)},
		{Name: "allow-privileged", Value: "true"},
		{Name: "anonymous-auth", Value: "false"},
		{Name: "authorization-mode", Value: "Node,RBAC"},
		{Name: "enable-admission-plugins", Value: "NodeRestriction"},
		{Name: "client-ca-file", Value: p.Cert(pki.ClientCA)},
		{Name: "tls-cert-file", Value: p.Cert(pki.APIServerServing)},
		{Name: "tls-private-key-file", Value: p.Key(pki.APIServerServing)},
		{Name: "cert-dir", Value: cfg.Layout().APIServerCertDir()},
		{Name: "etcd-servers", Value: in.EtcdEndpoint},
		{Name: "storage-backend", Value: "etcd3"},
		{Name: "kubelet-certificate-authority", Value: p.Cert(pki.KubeletServingCA)},
		{Name: "kubelet-client-certificate", Value: p.Cert(pki.APIServerKubelet)},
		{Name: "kubelet-client-key", Value: p.Key(pki.APIServerKubelet)},
		{Name: "kubelet-preferred-address-types", Value: "InternalIP,ExternalIP,Hostname"},
		{Name: "proxy-client-cert-file", Value: p.Cert(pki.AuthProxy)},
		{Name: "proxy-client-key-file", Value: p.Key(pki.AuthProxy)},
		{Name: "requestheader-client-ca-file", Value: p.Cert(pki.RequestHeaderCA)},
		{Name: "requestheader-allowed-names", Value: pki.AuthProxyUser},
		{Name: "requestheader-extra-headers-prefix", Value: "X-Remote-Extra-"},
		{Name: "requestheader-group-headers", Value: "X-Remote-Group"},
		{Name: "requestheader-username-headers", Value: "X-Remote-User"},
		{Name: "service-account-issuer", Value: issuer},
		{Name: "api-audiences", Value: issuer},
		{Name: "service-account-key-file", Value: p.ServiceAccountKeyFile()},
		{Name: "service-account-signing-key-file", Value: p.ServiceAccountKeyFile()},
		{Name: "service-cluster-ip-range", Value: cfg.ServiceCIDR},
		{Name: "service-node-port-range", Value: "30000-32767"},
		{Name: "profiling", Value: "false"},
	}, etcdTLS...), cfg.APIServerArgs)
}

// Scheduler returns kube-scheduler's flags.
func Scheduler(cfg *config.Server, in Inputs) []string {
	return config.MergeArgs([]config.Arg{
		{Name: "kubeconfig", Value: in.SchedulerKubeconfig},
		{Name: "authentication-kubeconfig", Value: in.SchedulerKubeconfig},
		{Name: "authorization-kubeconfig", Value: in.SchedulerKubeconfig},
		{Name: "bind-address", Value: "127.0.0.1"},
		{Name: "secure-port", Value: strconv.Itoa(config.SchedulerPort)},
		{Name: "leader-elect", Value: strconv.FormatBool(in.LeaderElect)},
		{Name: "profiling", Value: "false"},
		// A pod placed is one binding call: at kube-scheduler's default 50
		// QPS the scheduler places 50 pods a second at most, whatever the
		// cores. 200 measured (scripts/bench-scale, docs/scale.md): 84
		// pods/s at 100 simulated nodes where 50 QPS gave 31-51; the API
		// server's priority and fairness still shields it.
		{Name: "kube-api-qps", Value: "200"},
		{Name: "kube-api-burst", Value: "400"},
	}, cfg.SchedulerArgs)
}

// ControllerManager returns kube-controller-manager's flags.
func ControllerManager(cfg *config.Server, in Inputs) []string {
	p := pki.PKI{Dir: cfg.Layout().ServerTLSDir()}
	kc := in.ControllerManagerKubeconfig
	return config.MergeArgs([]config.Arg{
		{Name: "kubeconfig", Value: kc},
		{Name: "authentication-kubeconfig", Value: kc},
		{Name: "authorization-kubeconfig", Value: kc},
		{Name: "bind-address", Value: "127.0.0.1"},
		{Name: "secure-port", Value: strconv.Itoa(config.ControllerManagerPort)},
		{Name: "leader-elect", Value: strconv.FormatBool(in.LeaderElect)},
		{Name: "profiling", Value: "false"},
		{Name: "controllers", Value: "*,tokencleaner"},
		{Name: "use-service-account-credentials", Value: "true"},
		// Building its ~40 controllers takes ~100 requests (a service
		// account and a token each); at client-go's default 20 QPS that is
		// ~4 s, and the node waits for them: the node-ipam controller, which
		// gives the node its PodCIDR, starts only once all are built.
		{Name: "kube-api-qps", Value: "100"},
		{Name: "kube-api-burst", Value: "200"},
		{Name: "allocate-node-cidrs", Value: "true"},
		{Name: "cluster-cidr", Value: cfg.ClusterCIDR},
		{Name: "service-cluster-ip-range", Value: cfg.ServiceCIDR},
		{Name: "configure-cloud-routes", Value: "false"},
		{Name: "root-ca-file", Value: p.Cert(pki.ServerCA)},
		{Name: "service-account-private-key-file", Value: p.ServiceAccountKeyFile()},
		// CSR signers: client certificates from the client CA (which the API
		// server trusts), kubelet serving certificates from the server CA
		// (which the API server checks kubelets against).
		{Name: "cluster-signing-kube-apiserver-client-cert-file", Value: p.Cert(pki.ClientCA)},
		{Name: "cluster-signing-kube-apiserver-client-key-file", Value: p.Key(pki.ClientCA)},
		{Name: "cluster-signing-kubelet-client-cert-file", Value: p.Cert(pki.ClientCA)},
		{Name: "cluster-signing-kubelet-client-key-file", Value: p.Key(pki.ClientCA)},
		{Name: "cluster-signing-kubelet-serving-cert-file", Value: p.Cert(pki.KubeletServingCA)},
		{Name: "cluster-signing-kubelet-serving-key-file", Value: p.Key(pki.KubeletServingCA)},
		{Name: "cluster-signing-legacy-unknown-cert-file", Value: p.Cert(pki.ServerCA)},
		{Name: "cluster-signing-legacy-unknown-key-file", Value: p.Key(pki.ServerCA)},
	}, cfg.ControllerManagerArgs)
}
