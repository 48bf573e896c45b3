// Command coredns is the cluster DNS server of kite's coredns add-on:
// CoreDNS with only the plugins kite's Corefile uses. CoreDNS's own main
// links every plugin, cloud SDKs and all; this one stays small.
// scripts/images builds it into the image kite.local/coredns.
package main

import (
	"time"

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
	coremain.Run()
}
