// Package nodehosts keeps the nodes' names resolvable in the cluster, as
// K3s does: the key NodeHosts of ConfigMap kube-system/coredns holds one
// "IP name" line per node, which the coredns add-on's hosts plugin reads.
// A controller in the kite server process, no pod.
//
// A node reports its own addresses, and the API server does not check
// them, so Hosts writes a line only for an address that parses as an IP and
// a node name that is a DNS name outside the cluster's domain: a joined
// node must not be able to add names to the line ("10.0.0.9 evil other"),
// nor shadow a Service name or another node's address. (CoreDNS's
// kubernetes plugin also runs before hosts in kite's CoreDNS program,
// images/coredns, so even a hosts entry under the cluster domain would not
// win over a Service.)
//
// It owns only that key (server-side apply, its own field manager), so the
// manifests component, which applies the rest of the ConfigMap from
// coredns.yaml, and it never undo each other's writes.
package nodehosts

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/kite-project/kite/pkg/config"
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
	// ClusterDomain is the cluster's DNS domain (--cluster-domain): no
	// node name at or under it is written. Empty means cluster.local.
	ClusterDomain string

	nodes   corelisters.NodeLister
	changed trigger.Trigger
	written string
	skipped map[Skip]bool // those of the last pass, each logged once
}

func (c *Controller) Name() string { return "node hosts" }

func (c *Controller) Prepare(context.Context) error {
	c.changed = trigger.New()
	node := c.Informers.Core().V1().Nodes()
	// Only a node's name and addresses make its line.
	addressesOf := func(n *corev1.Node) string { return fmt.Sprint(n.Status.Addresses) }
	if _, err := node.Informer().AddEventHandler(trigger.OnChangeOf(c.changed, addressesOf)); err != nil {
		return err
	}
	c.nodes = node.Lister()
	return nil
}

func (c *Controller) Ready(context.Context) error { return nil }

// Run starts once the server's shared informers have synced.
func (c *Controller) Run(ctx context.Context) error {
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
		hosts, skipped := Hosts(nodes, c.ClusterDomain)
		c.logSkipped(skipped)
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

// logSkipped warns of each node or address left out that the last pass
// did not leave out too: once, not every pass.
func (c *Controller) logSkipped(skipped []Skip) {
	now := make(map[Skip]bool, len(skipped))
	for _, s := range skipped {
		now[s] = true
		if c.skipped[s] {
			continue
		}
		if s.Address == "" {
			c.Log.Warn("node left out of cluster DNS", "node", s.Node, "reason", s.Reason)
		} else {
			c.Log.Warn("node address left out of cluster DNS", "node", s.Node, "address", s.Address, "reason", s.Reason)
		}
	}
	c.skipped = now
}

// Skip is a node (Address empty) or one of its addresses that Hosts left
// out, and why.
type Skip struct {
	Node, Address, Reason string
}

// Hosts returns the hosts-file lines for nodes: each node's InternalIP
// addresses (ExternalIP when it has none) with its name, sorted by name,
// and what it left out: a node whose name is not a DNS-1123 subdomain, is
// an IP address, or lies at or under clusterDomain (empty: cluster.local)
// or the reverse zones; an address that is not an IP. Addresses are
// written in their canonical form.
func Hosts(nodes []*corev1.Node, clusterDomain string) (string, []Skip) {
	if clusterDomain == "" {
		clusterDomain = config.DefaultClusterDomain
	}
	clusterDomain = strings.ToLower(strings.TrimSuffix(clusterDomain, "."))
	sorted := append([]*corev1.Node(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var b strings.Builder
	var skipped []Skip
	for _, n := range sorted {
		if reason := badName(n.Name, clusterDomain); reason != "" {
			skipped = append(skipped, Skip{Node: n.Name, Reason: reason})
			continue
		}
		ips, bad := addresses(n)
		for _, a := range bad {
			skipped = append(skipped, Skip{Node: n.Name, Address: a, Reason: "not an IP address"})
		}
		for _, ip := range ips {
			fmt.Fprintf(&b, "%s %s\n", ip, n.Name)
		}
	}
	return b.String(), skipped
}

// badName says why name must not be written as a host name, or "".
func badName(name, clusterDomain string) string {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "the name is not a DNS-1123 subdomain: " + strings.Join(errs, "; ")
	}
	if net.ParseIP(name) != nil {
		return "the name is an IP address"
	}
	// The zones of the Corefile's kubernetes plugin: its names, and its
	// reverse records.
	for _, zone := range []string{clusterDomain, "in-addr.arpa", "ip6.arpa"} {
		if name == zone || strings.HasSuffix(name, "."+zone) {
			return "the name is in the cluster's DNS zone " + zone
		}
	}
	return ""
}

// addresses returns n's InternalIP addresses, or its ExternalIP ones when
// it has no valid InternalIP, in canonical form, and the addresses of
// those types that are not IPs.
func addresses(n *corev1.Node) (ips, bad []string) {
	for _, kind := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		seen := map[string]bool{}
		for _, a := range n.Status.Addresses {
			if a.Type != kind {
				continue
			}
			ip := net.ParseIP(a.Address)
			if ip == nil {
				bad = append(bad, a.Address)
				continue
			}
			if s := ip.String(); !seen[s] {
				seen[s] = true
				ips = append(ips, s)
			}
		}
		if len(ips) > 0 {
			return ips, bad
		}
	}
	return nil, bad
}
