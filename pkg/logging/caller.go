package logging

import (
	"runtime"
	"strings"
	"sync"
)

// owners place a line by the code that runs it: the outermost frame of the
// goroutine's stack in one of these packages wins. kite's wrappers come
// first: a component's Run is the bottom of the stack of everything it
// does synchronously.
var owners = []rule{
	{"github.com/kite-project/kite/server/apiserver", "apiserver"},
	{"github.com/kite-project/kite/server/scheduler", "scheduler"},
	{"github.com/kite-project/kite/server/controllermanager", "controller-manager"},
	{"github.com/kite-project/kite/server/metricsserver", "metrics-server"},
	{"github.com/kite-project/kite/server/helmcontroller", "helm-controller"},
	{"github.com/kite-project/kite/server/tunnel", "tunnel"},
	{"github.com/kite-project/kite/agent/tunnel", "tunnel"},
	{"github.com/kite-project/kite/datastore/kine", "kine"},
	{"github.com/kite-project/kite/datastore/sqlite", "kine"},
	{"github.com/kite-project/kite/agent/kubelet", "kubelet"},
	{"github.com/kite-project/kite/agent/kubeproxy", "kube-proxy"},
	{"github.com/kite-project/kite/agent/flannel", "flannel"},
	{"github.com/kite-project/kite/agent/containerd", "containerd"},
	{"github.com/kite-project/kite/agent/images", "images"},
	{"github.com/kite-project/kite/agent/loadbalancer", "loadbalancer"},
	{"github.com/kite-project/kite/server/join", "join"},
	{"github.com/kite-project/kite/agent/join", "join"},
	{"github.com/kite-project/kite/server/noderemoval", "node-removal"},
	{"github.com/kite-project/kite/server/servicelb", "servicelb"},
	{"github.com/kite-project/kite/server/localstorage", "local-storage"},
	{"github.com/kite-project/kite/agent/localstorage", "local-storage"},
	{"github.com/kite-project/kite/server/nodehosts", "nodehosts"},
	{"github.com/kite-project/kite/server/manifests", "manifests"},
	{"github.com/kite-project/kite/server/snapshots", "etcd-snapshot"},
	{"github.com/kite-project/kite/server/bootstrap", "etcd-snapshot"},

	{"k8s.io/kubernetes/cmd/kube-apiserver", "apiserver"},
	{"k8s.io/kubernetes/pkg/controlplane", "apiserver"},
	{"k8s.io/kubernetes/pkg/kubeapiserver", "apiserver"},
	{"k8s.io/kubernetes/pkg/registry", "apiserver"},
	{"k8s.io/kube-aggregator", "apiserver"},
	{"k8s.io/apiextensions-apiserver", "apiserver"},
	{"k8s.io/kubernetes/cmd/kube-scheduler", "scheduler"},
	{"k8s.io/kubernetes/pkg/scheduler", "scheduler"},
	{"k8s.io/kubernetes/cmd/kube-controller-manager", "controller-manager"},
	{"k8s.io/kubernetes/pkg/controller", "controller-manager"},
	{"k8s.io/kubernetes/cmd/kubelet", "kubelet"},
	{"k8s.io/kubernetes/pkg/kubelet", "kubelet"},
	{"k8s.io/kubernetes/pkg/volume", "kubelet"},
	{"k8s.io/kubernetes/cmd/kube-proxy", "kube-proxy"},
	{"k8s.io/kubernetes/pkg/proxy", "kube-proxy"},
	{"github.com/flannel-io", "flannel"},
	{"github.com/k3s-io/kine", "kine"},
	{"github.com/rancher/remotedialer", "tunnel"},
	{"sigs.k8s.io/metrics-server", "metrics-server"},
	{"helm.sh/helm", "helm-controller"},
	{"github.com/containerd", "containerd"},
}

// libraries place a line no owner placed: the innermost frame in one of
// these packages wins (k8s.io/apiserver also serves the scheduler's and
// the controller-manager's ports; its goroutines started there are
// counted as the API server's).
var libraries = []rule{
	{"k8s.io/apiserver", "apiserver"},
	{"k8s.io/client-go", "client-go"},
	{"google.golang.org/grpc", "grpc"},
	{"go.etcd.io/etcd/client", "etcd-client"},
}

type rule struct{ prefix, component string }

// match reports whether the function fn is in the package path p or below.
func (r rule) match(fn string) bool {
	if !strings.HasPrefix(fn, r.prefix) {
		return false
	}
	if len(fn) == len(r.prefix) {
		return true
	}
	c := fn[len(r.prefix)]
	return c == '/' || c == '.'
}

// placed is what a program counter's function says.
type placed struct {
	owner, library string
}

var placedCache sync.Map // function name → placed

func place(name string) placed {
	if v, ok := placedCache.Load(name); ok {
		return v.(placed)
	}
	var p placed
	for _, r := range owners {
		if r.match(name) {
			p.owner = r.component
			break
		}
	}
	for _, r := range libraries {
		if r.match(name) {
			p.library = r.component
			break
		}
	}
	placedCache.Store(name, p)
	return p
}

// fromStack places the calling goroutine's line.
func fromStack() string { return pick(stack()) }

// pick is the component of a line: its owner, else its library, else
// Default.
func pick(owner, library string) string {
	switch {
	case owner != "":
		return owner
	case library != "":
		return library
	}
	return Default
}

// stack returns the owner and the library of the calling goroutine.
func stack() (owner, library string) {
	var buf [256]uintptr
	n := runtime.Callers(2, buf[:])
	frames := runtime.CallersFrames(buf[:n])
	var all []runtime.Frame
	for {
		f, more := frames.Next()
		all = append(all, f)
		if !more {
			break
		}
	}
	return placeFrames(all)
}

// placeFrames places a stack, innermost frame first.
func placeFrames(frames []runtime.Frame) (owner, library string) {
	for i := len(frames) - 1; i >= 0; i-- {
		p := place(frames[i].Function)
		if p.owner != "" {
			return p.owner, ""
		}
		if p.library != "" {
			library = p.library // the innermost one is kept
		}
	}
	return "", library
}

// Of places a function by its name (for tests and docs).
func Of(function string) string {
	return pick(placeFrames([]runtime.Frame{{Function: function}}))
}
