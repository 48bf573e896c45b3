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

	// Add-ons (issue 9): CoreDNS, built by scripts/build into an image
	// from these plugins only (its own main links every plugin, with
	// cloud SDKs); metrics-server and Helm's SDK, run in the kite server;
	// Helm's CLI, built by the tests.
	_ "github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "helm.sh/helm/v3/cmd/helm"
	_ "helm.sh/helm/v3/pkg/action"
	_ "helm.sh/helm/v3/pkg/chart/loader"
	_ "helm.sh/helm/v3/pkg/chartutil"
	_ "helm.sh/helm/v3/pkg/cli"
	_ "helm.sh/helm/v3/pkg/storage/driver"
	_ "helm.sh/helm/v3/pkg/strvals"
	_ "sigs.k8s.io/metrics-server/cmd/metrics-server/app/options"
	_ "sigs.k8s.io/metrics-server/pkg/server"

	// Node density (issue 12): containerd's own runc shim as a small
	// program of its own.
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"

	// Embedded etcd (HA datastore).
	_ "go.etcd.io/etcd/server/v3/embed"
)
