package main

import (
	"slices"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
)

func TestKubernetesBeforeHosts(t *testing.T) {
	got, err := kubernetesBeforeHosts([]string{"cache", "hosts", "route53", "kubernetes", "forward"})
	if want := []string{"cache", "kubernetes", "hosts", "route53", "forward"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
	in := []string{"kubernetes", "hosts"}
	if got, err := kubernetesBeforeHosts(in); err != nil || !slices.Equal(got, in) {
		t.Fatalf("already in order: got %v, %v", got, err)
	}
	if _, err := kubernetesBeforeHosts([]string{"hosts", "forward"}); err == nil {
		t.Fatal("no kubernetes: no error")
	}
}

// The order the program runs with: kubernetes before hosts, both before
// forward, and every other plugin where CoreDNS put it.
func TestServicesFirst(t *testing.T) {
	upstream := slices.Clone(dnsserver.Directives)
	t.Cleanup(func() { dnsserver.Directives = upstream })
	if err := servicesFirst(); err != nil {
		t.Fatal(err)
	}
	got := dnsserver.Directives
	pos := func(name string) int { return slices.Index(got, name) }
	if !(pos("kubernetes") >= 0 && pos("kubernetes") < pos("hosts") && pos("hosts") < pos("forward")) {
		t.Fatalf("order: %v", got)
	}
	if len(got) != len(upstream) {
		t.Fatalf("%d directives, upstream has %d", len(got), len(upstream))
	}
	without := func(l []string) []string {
		return slices.DeleteFunc(slices.Clone(l), func(s string) bool { return s == "kubernetes" })
	}
	if !slices.Equal(without(got), without(upstream)) {
		t.Fatalf("other plugins moved:\n%v\nupstream:\n%v", got, upstream)
	}
}
