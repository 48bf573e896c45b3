package flannel

import (
	"strings"
	"testing"
)

// A node past the cluster CIDR's capacity waits for a pod range that
// never comes; the hint must say how many nodes fit and what to change.
func TestNoPodCIDRHintSaysHowManyNodesFit(t *testing.T) {
	for cidr, want := range map[string]string{
		"10.42.0.0/16": "holds 256 nodes",
		"10.64.0.0/12": "holds 4096 nodes",
		"10.42.0.0/23": "holds 2 nodes",
		"fd00::/48":    "holds some nodes",
	} {
		hint := NoPodCIDRHint(cidr)
		if !strings.Contains(hint, want) || !strings.Contains(hint, "--cluster-cidr") || !strings.Contains(hint, cidr) {
			t.Errorf("%s: hint %q lacks %q, the flag or the CIDR", cidr, hint, want)
		}
	}
}
