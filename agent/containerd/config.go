// Package containerd runs the node's container runtime: containerd v2,
// started as a child process of kite (`kite containerd`), with everything
// it owns under <data-dir>/agent/containerd.
package containerd

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"text/template"
)

// Config is what kite decides about containerd.
type Config struct {
	// Where containerd's files are (pkg/datadir: ContainerdDir, ...).
	Dir        string // made at start, with Root and State
	ConfigFile string // config.toml, written at every start
	Socket     string
	Root       string
	State      string
	LogFile    string // containerd's own output
	RuncRoot   string

	BinDir       string // runc, the shim and the CNI plugins
	CNIConfDir   string
	SandboxImage string // the pause image
	// SystemdCgroup makes runc use the systemd cgroup driver; it must
	// match the kubelet's cgroupDriver.
	SystemdCgroup bool
	// RestrictOOMScoreAdj is needed where a negative oom_score_adj cannot
	// be written (no CAP_SYS_RESOURCE): runc otherwise fails every sandbox.
	RestrictOOMScoreAdj bool
}

// Render returns containerd's config.toml (config version 3).
func (c Config) Render() ([]byte, error) {
	var buf bytes.Buffer
	err := configTemplate.Execute(&buf, map[string]any{
		"C":        c,
		"Root":     c.Root,
		"State":    c.State,
		"Socket":   c.Socket,
		"Runc":     filepath.Join(c.BinDir, "runc"),
		"Shim":     filepath.Join(c.BinDir, "containerd-shim-runc-v2"),
		"RuncRoot": c.RuncRoot,
	})
	return buf.Bytes(), err
}

// quote makes a TOML basic string; JSON's string escapes are all valid TOML.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var configTemplate = template.Must(template.New("config.toml").Funcs(template.FuncMap{"q": quote}).Parse(
	`# Written by kite at every agent start; edits are lost.
version = 3
root = {{q .Root}}
state = {{q .State}}

[grpc]
  address = {{q .Socket}}

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = {{q .C.SandboxImage}}

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = {{.C.RestrictOOMScoreAdj}}
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [{{q .C.BinDir}}]
    conf_dir = {{q .C.CNIConfDir}}
    max_conf_num = 1
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = {{q .Shim}}
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = {{q .Runc}}
        SystemdCgroup = {{.C.SystemdCgroup}}
        Root = {{q .RuncRoot}}
`))
