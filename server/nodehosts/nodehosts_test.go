package nodehosts

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, addrs ...corev1.NodeAddress) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Addresses: addrs}}
}

func TestHosts(t *testing.T) {
	got := Hosts([]*corev1.Node{
		node("pi-2",
			corev1.NodeAddress{Type: corev1.NodeHostName, Address: "pi-2"},
			corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.9"},
			corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.2"},
			corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "fd00::2"}),
		node("edge", corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.7"}),
		node("new"), // no address yet: no line
	})
	want := "203.0.113.7 edge\n10.0.0.2 pi-2\nfd00::2 pi-2\n"
	if got != want {
		t.Fatalf("Hosts:\n%s\nwant:\n%s", got, want)
	}
}
