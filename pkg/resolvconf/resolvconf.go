// Package resolvconf picks the resolv.conf the kubelet gives pods with
// dnsPolicy Default, CoreDNS among them: the upstream resolvers that names
// outside the cluster are forwarded to.
//
// A loopback nameserver (systemd-resolved's 127.0.0.53, a local dnsmasq)
// means nothing inside a pod's network namespace, and CoreDNS forwarding to
// it would loop back to itself; so, as K3s does, kite looks for a file with
// usable nameservers and else writes one naming a public resolver.
package resolvconf

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/kite-project/kite/pkg/fileutil"
)

// Candidates are tried in order when --resolv-conf is not given.
var Candidates = []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"}

// Fallback is written when no candidate has a usable nameserver.
const Fallback = "nameserver 8.8.8.8\n"

// Choose returns the file to use: flag if set (it must exist and name a
// nameserver), else the first candidate whose nameservers are not all
// loopback, else fallback (pkg/datadir's ResolvConf) written with Fallback.
func Choose(flag string, candidates []string, fallback string) (string, error) {
	if flag != "" {
		return flag, Check(flag)
	}
	for _, c := range candidates {
		data, err := os.ReadFile(c)
		if err != nil {
			continue
		}
		for _, ns := range Nameservers(data) {
			if ip := net.ParseIP(ns); ip != nil && !ip.IsLoopback() {
				return c, nil
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(fallback), 0o755); err != nil {
		return "", err
	}
	if _, err := fileutil.WriteIfChanged(fallback, []byte(Fallback), 0o644); err != nil {
		return "", err
	}
	return fallback, nil
}

// Check reports a --resolv-conf file that cannot be read or names no
// nameserver.
func Check(flag string) error {
	data, err := os.ReadFile(flag)
	if err != nil {
		return fmt.Errorf("--resolv-conf: %w; give a resolv.conf file with at least one nameserver line", err)
	}
	if len(Nameservers(data)) == 0 {
		return fmt.Errorf("--resolv-conf %s has no nameserver line; pods would resolve no name outside the cluster", flag)
	}
	return nil
}

// Nameservers returns the addresses of a resolv.conf's nameserver lines.
func Nameservers(data []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			out = append(out, fields[1])
		}
	}
	return out
}
