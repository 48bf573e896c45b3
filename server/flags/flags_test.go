package flags

import (
	"slices"
	"strings"
	"testing"

	"github.com/kite-project/kite/pkg/config"
)

func value(args []string, name string) []string {
	var out []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

func TestAPIServerFlagsFollowConfig(t *testing.T) {
	cfg := config.NewServer()
	cfg.DataDir = "/data"
	cfg.ServiceCIDR = "10.96.0.0/16"
	cfg.ClusterDomain = "edge.local"
	cfg.HTTPSPort = 7443
	args := APIServer(&cfg, Inputs{AdvertiseIP: "198.18.0.11", EtcdEndpoint: "unix:///data/server/kine.sock"})
	for name, want := range map[string]string{
		"service-cluster-ip-range": "10.96.0.0/16",
		"service-account-issuer":   "https://kubernetes.default.svc.edge.local",
		"secure-port":              "7443",
		"advertise-address":        "198.18.0.11",
		"etcd-servers":             "unix:///data/server/kine.sock",
		"authorization-mode":       "Node,RBAC",
		"client-ca-file":           "/data/server/tls/client-ca.crt",
		"tls-private-key-file":     "/data/server/tls/serving-kube-apiserver.key",
	} {
		if got := value(args, name); !slices.Equal(got, []string{want}) {
			t.Errorf("--%s = %v, want %s", name, got, want)
		}
	}
}

func TestUserArgsReplaceDefaults(t *testing.T) {
	cfg := config.NewServer()
	cfg.APIServerArgs = []string{"authorization-mode=RBAC", "audit-log-path=/var/log/audit.log"}
	cfg.SchedulerArgs = []string{"leader-elect=true"}
	cfg.ControllerManagerArgs = []string{"--controllers=*,-nodeipam"}
	api := APIServer(&cfg, Inputs{})
	if got := value(api, "authorization-mode"); !slices.Equal(got, []string{"RBAC"}) {
		t.Errorf("authorization-mode %v", got)
	}
	if got := value(api, "audit-log-path"); !slices.Equal(got, []string{"/var/log/audit.log"}) {
		t.Errorf("audit-log-path %v", got)
	}
	if got := value(Scheduler(&cfg, Inputs{}), "leader-elect"); !slices.Equal(got, []string{"true"}) {
		t.Errorf("scheduler leader-elect %v", got)
	}
	if got := value(ControllerManager(&cfg, Inputs{}), "controllers"); !slices.Equal(got, []string{"*,-nodeipam"}) {
		t.Errorf("controllers %v", got)
	}
}

func TestControllerManagerAllocatesFromClusterCIDR(t *testing.T) {
	cfg := config.NewServer()
	cfg.ClusterCIDR = "10.100.0.0/16"
	args := ControllerManager(&cfg, Inputs{ControllerManagerKubeconfig: "/k"})
	if got := value(args, "cluster-cidr"); !slices.Equal(got, []string{"10.100.0.0/16"}) {
		t.Errorf("cluster-cidr %v", got)
	}
	if got := value(args, "allocate-node-cidrs"); !slices.Equal(got, []string{"true"}) {
		t.Errorf("allocate-node-cidrs %v", got)
	}
	if got := value(args, "kubeconfig"); !slices.Equal(got, []string{"/k"}) {
		t.Errorf("kubeconfig %v", got)
	}
}

// kite raises two components' client limits; the user's flag still wins.
func TestClientLimits(t *testing.T) {
	cases := []struct {
		name       string
		flags      func(*config.Server) []string
		qps, burst string
		why        string
	}{
		{"controller-manager", func(c *config.Server) []string { return ControllerManager(c, Inputs{}) }, "100", "200",
			"client-go's 20 delays the node's PodCIDR by ~4 s"},
		{"scheduler", func(c *config.Server) []string { return Scheduler(c, Inputs{}) }, "200", "400",
			"kube-scheduler's 50 caps it at 50 pods/s"},
	}
	for _, c := range cases {
		cfg := config.NewServer()
		args := c.flags(&cfg)
		if got := value(args, "kube-api-qps"); !slices.Equal(got, []string{c.qps}) {
			t.Errorf("%s: kube-api-qps %v, want %s (%s)", c.name, got, c.qps, c.why)
		}
		if got := value(args, "kube-api-burst"); !slices.Equal(got, []string{c.burst}) {
			t.Errorf("%s: kube-api-burst %v, want %s", c.name, got, c.burst)
		}
		cfg.ControllerManagerArgs = []string{"kube-api-qps=7"}
		cfg.SchedulerArgs = []string{"kube-api-qps=7"}
		if got := value(c.flags(&cfg), "kube-api-qps"); !slices.Equal(got, []string{"7"}) {
			t.Errorf("%s: user's kube-api-qps not applied: %v", c.name, got)
		}
	}
}
