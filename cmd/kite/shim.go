package main

import (
	"context"
	"flag"
	"os"

	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"

	"github.com/kite-project/kite/agent/bundle"
	"github.com/kite-project/kite/pkg/memtrim"
)

// shimEnv marks a process as the runc shim. containerd runs the shim through
// the link named bundle.Shim, but the shim starts its long-lived copy through
// os.Executable(), which is kite's own path: the variable, inherited, tells
// that copy what it is.
const shimEnv = "KITE_RUNC_SHIM"

func isShim(argv0 string) bool {
	return argv0 == bundle.Shim || os.Getenv(shimEnv) == "1"
}

// runShim is containerd's runc v2 shim (containerd-shim-runc-v2) running in
// kite. It never returns.
func runShim() {
	os.Setenv(shimEnv, "1")
	// The shim parses the global flag set from os.Args; give it a fresh one
	// so no flag registered by another package's init clashes with its own.
	flag.CommandLine = flag.NewFlagSet(bundle.Shim, flag.ExitOnError)
	// The shim initialises every plugin in containerd's registry, which in
	// kite holds the daemon's (CRI, snapshotters, ...). Keep only the runc
	// task service, registered as the upstream shim's task/plugin does
	// (importing that package would add it to the daemon's registry too).
	registry.Reset()
	registry.Register(&plugin.Registration{
		Type:     plugins.TTRPCPlugin,
		ID:       "task",
		Requires: []plugin.Type{plugins.EventPlugin, plugins.InternalPlugin},
		InitFn: func(ic *plugin.InitContext) (any, error) {
			publisher, err := ic.GetByID(plugins.EventPlugin, "publisher")
			if err != nil {
				return nil, err
			}
			sd, err := ic.GetByID(plugins.InternalPlugin, "shutdown")
			if err != nil {
				return nil, err
			}
			return task.NewTaskService(ic.Context, publisher.(shim.Publisher), sd.(shutdown.Service))
		},
	})
	// Every package's init() ran in this process too; the copy that
	// serves the pod, started with no action, hands back the garbage and
	// the pages of the binary they left before it settles for the pod's
	// life. The short-lived "start" and "delete" runs (containerd puts the
	// action after the flags) exit at once: trimming there would only
	// slow pods' start and stop.
	if action := os.Args[len(os.Args)-1]; action != "start" && action != "delete" {
		memtrim.AfterStartup() // best effort: the shim works without it
	}
	shim.RunShim(context.Background(), manager.NewShimManager("io.containerd.runc.v2"))
	os.Exit(0)
}
