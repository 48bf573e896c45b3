// Command coredns is the cluster DNS server of kite's coredns add-on:
// CoreDNS with only the plugins kite's Corefile uses. CoreDNS's own main
// links every plugin, cloud SDKs and all; this one stays small.
// scripts/images builds it into the image kite.local/coredns.
package main

import (
	"github.com/coredns/coredns/coremain"

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
	coremain.Run()
}
