package servicelb

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func lbService(name string, age time.Duration, ports ...int32) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: metav1.NewTime(time.Unix(1e9, 0).Add(-age))}}
	s.Spec.Type = corev1.ServiceTypeLoadBalancer
	for _, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: p, Protocol: corev1.ProtocolTCP})
	}
	return s
}

func TestTheOlderServiceKeepsAPort(t *testing.T) {
	old := lbService("old", time.Hour, 80, 443)
	young := lbService("young", time.Minute, 8080, 443)
	other := lbService("other", 0, 8081)
	cluster := lbService("cluster", 2*time.Hour, 80)
	cluster.Spec.Type = corev1.ServiceTypeClusterIP
	classed := lbService("classed", 2*time.Hour, 80)
	class := "example.com/lb"
	classed.Spec.LoadBalancerClass = &class

	got := map[string]Assignment{}
	for _, a := range Assign([]*corev1.Service{young, other, cluster, classed, old}) {
		got[a.Service.Name] = a
	}
	if len(got) != 3 {
		t.Fatalf("assigned %v: a ClusterIP Service or one of another class was taken", got)
	}
	if got["old"].ConflictWith != "" || got["other"].ConflictWith != "" {
		t.Fatalf("free ports held back: %+v", got)
	}
	if a := got["young"]; a.ConflictWith != "default/old" || a.Port != "443/TCP" {
		t.Fatalf("young: %+v, want pending on 443/TCP held by default/old", a)
	}
	// A pending Service holds none of its ports: 8080 is free for others.
	later := lbService("later", 0, 8080)
	for _, a := range Assign([]*corev1.Service{young, old, later}) {
		if a.Service.Name == "later" && a.ConflictWith != "" {
			t.Fatalf("later blocked by a pending Service: %+v", a)
		}
	}
}

func node(name string, ready bool, labels map[string]string, addrs ...corev1.NodeAddress) *corev1.Node {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}}, Addresses: addrs},
	}
}

func TestAddressesOfReadyNodes(t *testing.T) {
	internal := func(ip string) corev1.NodeAddress {
		return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
	}
	external := func(ip string) corev1.NodeAddress {
		return corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: ip}
	}
	nodes := []*corev1.Node{
		node("b", true, nil, internal("198.18.1.12")),
		node("a", true, nil, internal("198.18.1.11"), external("203.0.113.5")),
		node("down", false, nil, internal("198.18.1.13")),
	}
	if got := strings.Join(Addresses(nodes), " "); got != "198.18.1.12 203.0.113.5" {
		t.Fatalf("addresses %q: want Ready nodes, ExternalIP first, sorted", got)
	}
	nodes = append(nodes, node("edge", true, map[string]string{EnableLabel: "true"}, internal("198.18.1.14")))
	if got := strings.Join(Addresses(nodes), " "); got != "198.18.1.14" {
		t.Fatalf("with a labelled node: %q, want only it", got)
	}
}
