package containerd

import (
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/kite-project/kite/pkg/datadir"
)

func render(t *testing.T, c Config) map[string]any {
	t.Helper()
	data, err := c.Render()
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := toml.Unmarshal(data, &out); err != nil {
		t.Fatalf("not valid TOML: %v\n%s", err, data)
	}
	return out
}

func get(t *testing.T, m map[string]any, path ...string) any {
	t.Helper()
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%v: %s is not a table", path, p)
		}
		cur = mm[p]
	}
	return cur
}

func TestRenderFollowsHost(t *testing.T) {
	l := datadir.New("/var/lib/kite")
	c := Config{
		Dir:                 l.ContainerdDir(),
		ConfigFile:          l.ContainerdConfig(),
		Socket:              l.ContainerdSocket(),
		Root:                l.ContainerdRoot(),
		State:               l.ContainerdState(),
		LogFile:             l.ContainerdLog(),
		RuncRoot:            l.RuncRoot(),
		BinDir:              `/var/lib/kite/data/v1 "odd"/bin`,
		CNIConfDir:          "/var/lib/kite/agent/etc/cni/net.d",
		SandboxImage:        "kite.local/pause:1",
		SystemdCgroup:       true,
		RestrictOOMScoreAdj: true,
	}
	m := render(t, c)
	rt := []string{"plugins", "io.containerd.cri.v1.runtime"}
	runc := append(rt, "containerd", "runtimes", "runc")
	checks := map[string]struct {
		path []string
		want any
	}{
		"version":  {[]string{"version"}, int64(3)},
		"root":     {[]string{"root"}, "/var/lib/kite/agent/containerd/root"},
		"state":    {[]string{"state"}, "/var/lib/kite/agent/containerd/state"},
		"socket":   {[]string{"grpc", "address"}, "/var/lib/kite/agent/containerd/containerd.sock"},
		"sandbox":  {[]string{"plugins", "io.containerd.cri.v1.images", "pinned_images", "sandbox"}, "kite.local/pause:1"},
		"oom":      {append(rt, "restrict_oom_score_adj"), true},
		"confdir":  {append(rt, "cni", "conf_dir"), "/var/lib/kite/agent/etc/cni/net.d"},
		"shim":     {append(runc, "runtime_path"), `/var/lib/kite/data/v1 "odd"/bin/containerd-shim-runc-v2`},
		"runc":     {append(runc, "options", "BinaryName"), `/var/lib/kite/data/v1 "odd"/bin/runc`},
		"runcroot": {append(runc, "options", "Root"), "/var/lib/kite/agent/containerd/state/runc"},
		"systemd":  {append(runc, "options", "SystemdCgroup"), true},
		"runctype": {append(runc, "runtime_type"), "io.containerd.runc.v2"},
	}
	for name, c := range checks {
		if got := get(t, m, c.path...); got != c.want {
			t.Errorf("%s: %v = %#v, want %#v", name, strings.Join(c.path, "."), got, c.want)
		}
	}
	bins := get(t, m, append(rt, "cni", "bin_dirs")...).([]any)
	if len(bins) != 1 || bins[0] != `/var/lib/kite/data/v1 "odd"/bin` {
		t.Errorf("bin_dirs %v", bins)
	}
}

func TestRenderDefaultsOff(t *testing.T) {
	m := render(t, Config{Dir: "/d", BinDir: "/b", CNIConfDir: "/c", SandboxImage: "p"})
	if get(t, m, "plugins", "io.containerd.cri.v1.runtime", "restrict_oom_score_adj") != false {
		t.Error("restrict_oom_score_adj set although the host allows a negative oom_score_adj")
	}
	if get(t, m, "plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes", "runc", "options", "SystemdCgroup") != false {
		t.Error("SystemdCgroup set for cgroupfs")
	}
}
