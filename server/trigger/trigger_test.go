package trigger

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pending(t Trigger) bool {
	select {
	case <-t:
		return true
	default:
		return false
	}
}

func node(name, ip, heartbeat string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: heartbeat},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}},
	}
}

func TestOnChangeOfWakesOnlyForWhatIsRead(t *testing.T) {
	tr := New()
	h := OnChangeOf(tr, func(n *corev1.Node) string { return n.Status.Addresses[0].Address })

	h.OnUpdate(node("a", "10.0.0.1", "1"), node("a", "10.0.0.1", "2"))
	if pending(tr) {
		t.Error("a heartbeat (new resourceVersion, same address) woke the controller")
	}
	h.OnUpdate(node("a", "10.0.0.1", "2"), node("a", "10.0.0.2", "3"))
	if !pending(tr) {
		t.Error("an address change did not wake the controller")
	}
	h.OnAdd(node("b", "10.0.0.3", "4"), false)
	if !pending(tr) {
		t.Error("an added node did not wake the controller")
	}
	h.OnDelete(node("b", "10.0.0.3", "4"))
	if !pending(tr) {
		t.Error("a deleted node did not wake the controller")
	}
	// An object of another type (never seen from a typed informer) wakes
	// it rather than being ignored.
	h.OnUpdate("x", "y")
	if !pending(tr) {
		t.Error("an update of an unexpected type did not wake the controller")
	}
}
