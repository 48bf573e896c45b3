// Package nodehosts keeps the nodes' names resolvable in the cluster, as
// K3s does: the key NodeHosts of ConfigMap kube-system/coredns holds one
// "IP name" line per node, which the coredns add-on's hosts plugin reads.
// A controller in the kite server process, no pod.
//
// It owns only that key (server-side apply, its own field manager), so the
// manifests component, which applies the rest of the ConfigMap from
// coredns.yaml, and it never undo each other's writes.
package nodehosts

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/kite-project/kite/server/trigger"
)

// Key is the ConfigMap key, and the file name the Corefile's hosts plugin
// reads.
const Key = "NodeHosts"

const fieldManager = "kite-nodehosts"

// Controller is the component.
type Controller struct {
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory
	Log       *slog.Logger

	nodes   corelisters.NodeLister
	changed trigger.Trigger
	written string
}

func (c *Controller) Name() string { return "node hosts" }

func (c *Controller) Prepare(context.Context) error {
	c.changed = trigger.New()
	node := c.Informers.Core().V1().Nodes()
	if _, err := node.Informer().AddEventHandler(c.changed.On()); err != nil {
		return err
	}
	c.nodes = node.Lister()
	return nil
}

func (c *Controller) Ready(context.Context) error { return nil }

func (c *Controller) Run(ctx context.Context) error {
	c.Informers.Start(ctx.Done())
	c.Informers.WaitForCacheSync(ctx.Done())
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.changed:
		case <-time.After(time.Minute): // retries a failed write
		}
		nodes, err := c.nodes.List(labels.Everything())
		if err != nil {
			continue
		}
		hosts := Hosts(nodes)
		if hosts == c.written {
			continue
		}
		cm := corev1apply.ConfigMap("coredns", metav1.NamespaceSystem).WithData(map[string]string{Key: hosts})
		if _, err := c.Client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Apply(ctx, cm, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
			if ctx.Err() == nil {
				c.Log.Warn("cannot write the nodes' names for cluster DNS", "configmap", "kube-system/coredns", "err", err)
			}
			continue
		}
		c.written = hosts
	}
}

// Hosts returns the hosts-file lines for nodes: each node's InternalIP
// addresses (ExternalIP when it has none) with its name, sorted by name.
func Hosts(nodes []*corev1.Node) string {
	sorted := append([]*corev1.Node(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var b strings.Builder
	for _, n := range sorted {
		for _, ip := range addresses(n) {
			fmt.Fprintf(&b, "%s %s\n", ip, n.Name)
		}
	}
	return b.String()
}

func addresses(n *corev1.Node) []string {
	for _, kind := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		var ips []string
		for _, a := range n.Status.Addresses {
			if a.Type == kind {
				ips = append(ips, a.Address)
			}
		}
		if len(ips) > 0 {
			return ips
		}
	}
	return nil
}
