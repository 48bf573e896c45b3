//go:build kite_deps

// Package deps is never built. It pins, in go.mod, the modules that later
// parts of kite (the node agent: containerd, runc, CNI plugins; embedded etcd)
// will link, so that the dependency set is settled once. Adding containerd
// after Kubernetes is built moves shared dependencies and recompiles most of
// Kubernetes (see ../shared/PLATFORM.md). Delete an import here once real
// code imports that module.
package deps

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd/command"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
	_ "github.com/opencontainers/runc"
	_ "go.etcd.io/etcd/server/v3/embed"
)
