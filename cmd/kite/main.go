// Command kite is a whole Kubernetes cluster in one binary. It is also
// kubectl, ctr and crictl when run through a link of that name.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	_ "github.com/kite-project/kite/pkg/englishonly" // before kubectl's packages: see its doc
	"github.com/kite-project/kite/pkg/memtrim"
	"github.com/kite-project/kite/pkg/sdnotify"
)

func main() {
	memtrim.SetGCDefault()
	sdnotify.Claim()
	name := filepath.Base(os.Args[0])
	switch name {
	case "kubectl":
		os.Exit(runKubectl(os.Args[1:]))
	case "ctr", "crictl":
		os.Args = append([]string{"kite", filepath.Base(os.Args[0])}, os.Args[1:]...)
	}
	hideSecrets(os.Args)
	args, err := withConfigFile(os.Args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kite: error: %v\n", err)
		os.Exit(1)
	}
	if err := newApp().Run(args); err != nil {
		fmt.Fprintf(os.Stderr, "kite: error: %v\n", err)
		os.Exit(1)
	}
}
