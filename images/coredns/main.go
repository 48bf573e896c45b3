// Command coredns is the cluster DNS server of kite's coredns add-on:
// CoreDNS with only the plugins kite's Corefile uses. CoreDNS's own main
// links every plugin, cloud SDKs and all; this one stays small.
// scripts/images builds it into the image kite.local/coredns.
package main

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	"github.com/kite-project/kite/pkg/memtrim"

	// The plugins of the Corefile in server/addons/templates/coredns.yaml,
	// and those a user's coredns-custom entries are most likely to use.
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
)

func main() {
	// As in kite's own processes: a frugal garbage collector, and, once
	// start-up is over, the pages of the binary only start-up touched
	// given back (measured: ~35 of CoreDNS's 42 MB were its binary's
	// pages, mapped by the fault-around of its package inits).
	memtrim.SetGCDefault()
	time.AfterFunc(15*time.Second, func() { memtrim.AfterStartup() })
	if err := servicesFirst(); err != nil {
		fmt.Fprintln(os.Stderr, "coredns:", err)
		os.Exit(1)
	}
	coremain.Run()
}

// servicesFirst makes the kubernetes plugin run before hosts. CoreDNS runs
// a server block's plugins in the order of dnsserver.Directives, whatever
// their order in the Corefile, and upstream's list has hosts first: an
// entry of the NodeHosts file (written from what the nodes report) or of a
// user's hosts block would then answer before the cluster's Services, and
// a node could take over kubernetes.default.svc.cluster.local. With
// kubernetes first, its zones (the cluster domain, and the reverse zones
// for Service and endpoint addresses) are answered from the API; other
// names (a node's name such as pi-07.lan) go on to hosts, and so do reverse
// lookups of addresses it does not know (the Corefile's fallthrough
// in-addr.arpa ip6.arpa). The Corefile lists them in the same order.
func servicesFirst() error {
	order, err := kubernetesBeforeHosts(dnsserver.Directives)
	if err != nil {
		return err
	}
	return dnsserver.SetDirectives(order)
}

// kubernetesBeforeHosts returns a copy of directives with kubernetes moved
// to just before hosts, the others in their order.
func kubernetesBeforeHosts(directives []string) ([]string, error) {
	k := slices.Index(directives, "kubernetes")
	h := slices.Index(directives, "hosts")
	if k < 0 || h < 0 {
		return nil, fmt.Errorf("the plugin order has no kubernetes or no hosts: %v", directives)
	}
	order := slices.Clone(directives)
	if k < h {
		return order, nil
	}
	order = slices.Delete(order, k, k+1)
	return slices.Insert(order, h, "kubernetes"), nil
}
