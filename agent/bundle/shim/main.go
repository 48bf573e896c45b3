// Command shim is the runc shim kite ships in its bundle as
// containerd-shim-runc-v2: containerd's own shim (the same manager and
// task service as containerd's containerd-shim-runc-v2 command, from the
// module in go.mod), with one change: it runs Go with one P.
//
// containerd starts each pod's shim with GOMAXPROCS=4. A shim spends its
// life waiting for a container and forwarding a few requests, and every P
// keeps its own caches of partly used heap spans: with one P each shim
// holds ~0.3 MB less (5.3 -> 5.0 MB of anonymous memory, measured on 20
// pods; docs/node-agent.md), 36 MB on a node of 110 pods.
package main

import (
	"context"
	"runtime"

	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task/plugin"
	"github.com/containerd/containerd/v2/pkg/shim"
)

func main() {
	runtime.GOMAXPROCS(1)
	shim.RunShim(context.Background(), manager.NewShimManager("io.containerd.runc.v2"))
}
