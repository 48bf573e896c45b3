//go:build kite_deps

// Package deps is never built. It pins, in go.mod, the modules that later
// parts of kite will link or build, so that the dependency set is settled
// once: adding a module after Kubernetes is built moves shared
// dependencies and recompiles most of Kubernetes (see
// ../shared/PLATFORM.md). Delete an import here once real code imports
// that package.
package deps

import (
	// Multi-node: flannel's backends and subnet manager, the agent tunnel.
	_ "github.com/flannel-io/flannel/pkg/backend/hostgw"
	_ "github.com/flannel-io/flannel/pkg/backend/vxlan"
	_ "github.com/flannel-io/flannel/pkg/subnet/kube"
	_ "github.com/flannel-io/flannel/pkg/trafficmngr/iptables"
	_ "github.com/flannel-io/flannel/pkg/trafficmngr/nftables"
	_ "github.com/rancher/remotedialer"

	// Built by scripts/build from these modules and embedded in kite.
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
	_ "github.com/containernetworking/plugins/plugins/main/loopback"
	_ "github.com/containernetworking/plugins/plugins/meta/portmap"
	_ "github.com/opencontainers/runc"
	_ "sigs.k8s.io/cri-tools/cmd/crictl"

	// Helm's CLI: built by the tests (TestHelmChart) to check what the
	// helm controller installed.
	_ "helm.sh/helm/v3/cmd/helm"
)
