package cliflags

import (
	"io"
	"reflect"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/kite-project/kite/pkg/config"
)

// parse runs args through a kite-like app whose server action only records
// the settings.
func parse(t *testing.T, args ...string) (config.Server, error) {
	t.Helper()
	cfg := config.NewServer()
	app := &cli.App{
		Name:                      "kite",
		Writer:                    io.Discard,
		ErrWriter:                 io.Discard,
		DisableSliceFlagSeparator: true,
		Commands: []*cli.Command{{
			Name:   "server",
			Flags:  Server(&cfg),
			Action: func(*cli.Context) error { return nil },
			OnUsageError: func(_ *cli.Context, err error, _ bool) error {
				return err
			},
		}},
	}
	err := app.Run(append([]string{"kite", "server"}, args...))
	return cfg, err
}

func TestDefaults(t *testing.T) {
	cfg, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, config.NewServer()) {
		t.Fatalf("no flags changed the defaults: %+v", cfg)
	}
}

func TestFlagsReachConfig(t *testing.T) {
	cfg, err := parse(t,
		"--data-dir", "/srv/kite",
		"--https-listen-port", "7443",
		"--cluster-cidr", "10.100.0.0/16",
		"--service-cidr=10.101.0.0/16",
		"--cluster-dns", "10.101.0.10",
		"--cluster-domain", "edge.local",
		"--tls-san", "a.example.com", "--tls-san", "10.0.0.5",
		"--kube-apiserver-arg", "enable-admission-plugins=NodeRestriction,PodSecurity",
		"--kube-apiserver-arg", "v=2",
		"--kube-scheduler-arg", "v=3",
		"--kube-controller-manager-arg", "node-monitor-grace-period=20s",
		"-o", "/tmp/k.yaml", "--write-kubeconfig-mode", "0644",
		"--token", "secret",
		"--node-name", "edge-1", "--node-ip", "198.18.0.11",
		"--node-label", "zone=a", "--node-label", "tier=edge",
		"--node-taint", "dedicated=edge:NoSchedule",
		"--kubelet-arg", "max-pods=50", "--kube-proxy-arg", "proxy-mode=nftables",
		"--disable-agent",
	)
	if err != nil {
		t.Fatal(err)
	}
	want := config.NewServer()
	want.DataDir = "/srv/kite"
	want.HTTPSPort = 7443
	want.ClusterCIDR = "10.100.0.0/16"
	want.ServiceCIDR = "10.101.0.0/16"
	want.ClusterDNS = "10.101.0.10"
	want.ClusterDomain = "edge.local"
	want.TLSSANs = []string{"a.example.com", "10.0.0.5"}
	// Commas inside a pass-through flag stay in its value.
	want.APIServerArgs = []string{"enable-admission-plugins=NodeRestriction,PodSecurity", "v=2"}
	want.SchedulerArgs = []string{"v=3"}
	want.ControllerManagerArgs = []string{"node-monitor-grace-period=20s"}
	want.WriteKubeconfig = "/tmp/k.yaml"
	want.KubeconfigMode = "0644"
	want.Token = "secret"
	want.Agent.NodeName = "edge-1"
	want.Agent.NodeIP = "198.18.0.11"
	want.Agent.NodeLabels = []string{"zone=a", "tier=edge"}
	want.Agent.NodeTaints = []string{"dedicated=edge:NoSchedule"}
	want.Agent.KubeletArgs = []string{"max-pods=50"}
	want.Agent.KubeProxyArgs = []string{"proxy-mode=nftables"}
	want.DisableAgent = true
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestTokenFromEnvironment(t *testing.T) {
	t.Setenv("KITE_TOKEN", "from-env")
	cfg, err := parse(t)
	if err != nil || cfg.Token != "from-env" {
		t.Fatalf("token %q, err %v", cfg.Token, err)
	}
}

func TestUnknownFlagAndBadNumber(t *testing.T) {
	if _, err := parse(t, "--no-such-flag"); err == nil {
		t.Error("unknown flag accepted")
	}
	if _, err := parse(t, "--https-listen-port", "high"); err == nil {
		t.Error("non-numeric port accepted")
	}
}
