// Command shim is the runc shim kite ships in its bundle as
// containerd-shim-runc-v2: containerd's own shim (the same manager and
// task service as containerd's containerd-shim-runc-v2 command, from the
// module in go.mod), with three changes to how Go runs it, all for memory:
// there is one shim process a pod, 110 on a full node (docs/node-agent.md).
//
//   - One P. containerd starts each pod's shim with GOMAXPROCS=4. A shim
//     spends its life waiting for a container and forwarding a few
//     requests, and every P keeps its own caches of partly used heap
//     spans: with one P each shim holds ~0.3 MB less (5.3 -> 5.0 MB of
//     anonymous memory, measured on 20 pods).
//   - The pages each garbage collection frees go back to the system at
//     once (memtrim.ReleaseAfterEachGC). Go keeps them until the next
//     collection, and an idle shim's heap swings by about 1 MB between
//     collections (the kubelet's status and stats polls): 4.9 -> 4.4 MB a
//     shim on average, measured on 12 pods each.
//   - Once its pod is up, it unmaps its executable (memtrim.UnmapExecutable)
//     and maps back only what it runs: a shim starts with ~13 MB of its
//     program mapped, all of it counted against a node's only pod.
package main

import (
	"context"
	"runtime"
	"time"

	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task/plugin"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/log"

	"github.com/kite-project/kite/pkg/memtrim"
)

// trimAfter is how long after its start a shim unmaps its executable: by
// then its pod's containers have started, even with a hundred pods
// starting at once. (The shim's short-lived start and delete commands end
// well before.)
const trimAfter = 30 * time.Second

func main() {
	runtime.GOMAXPROCS(1)
	memtrim.ReleaseAfterEachGC(context.Background())
	time.AfterFunc(trimAfter, func() {
		if _, err := memtrim.UnmapExecutable(); err != nil {
			log.L.WithError(err).Warn("kite: unmapping the shim's executable")
		}
	})
	shim.RunShim(context.Background(), manager.NewShimManager("io.containerd.runc.v2"))
}
