//go:build kite_deps

// Package deps is never built. It pins, in go.mod, the modules that later
// parts of kite (the node agent: containerd, its shim, ctr, crictl, runc,
// CNI plugins, kubelet, kube-proxy; embedded etcd) will link or build, so
// that the dependency set is settled once. Adding containerd after
// Kubernetes is built moves shared dependencies and recompiles most of
// Kubernetes (see ../shared/PLATFORM.md). Delete an import here once real
// code imports that package.
package deps

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd/builtins"
	_ "github.com/containerd/containerd/v2/cmd/containerd/command"
	_ "github.com/containerd/containerd/v2/cmd/ctr/app"
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
	_ "github.com/containernetworking/plugins/plugins/main/loopback"
	_ "github.com/containernetworking/plugins/plugins/meta/portmap"
	_ "github.com/opencontainers/runc"
	_ "go.etcd.io/etcd/server/v3/embed"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
)
