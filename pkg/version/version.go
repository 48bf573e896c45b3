// Package version holds kite's own version, set at link time by scripts/build,
// and reports the version of the Kubernetes it embeds.
package version

import (
	"fmt"

	kubeversion "k8s.io/component-base/version"
)

// Set by scripts/build through -ldflags -X.
var (
	Version   = "dev"
	GitCommit = "unknown"
)

// Kubernetes is the version of the embedded Kubernetes components.
func Kubernetes() string {
	return kubeversion.Get().GitVersion
}

// String is what `kite --version` prints.
func String() string {
	return fmt.Sprintf("kite version %s (commit %s)\nKubernetes %s", Version, GitCommit, Kubernetes())
}
