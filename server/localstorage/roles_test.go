package localstorage

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kite-project/kite/pkg/localpath"
)

// provisioned is the volume the controller provisions on node for a claim
// of UID uid: named pvc-<uid>.
func provisioned(uid, node string) *corev1.PersistentVolume {
	class := "local-path"
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data-" + uid, Namespace: "default", UID: types.UID(uid)},
		Spec:       corev1.PersistentVolumeClaimSpec{StorageClassName: &class},
	}
	return Volume(pvc, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, Labels: map[string]string{corev1.LabelHostname: node}}}, nil)
}

func newController(client *fake.Clientset) *Controller {
	return &Controller{Client: client, Log: slog.New(slog.DiscardHandler)}
}

// roles returns the nodes' volume roles in client: node → the volume names
// of its one rule; it fails the test on any other shape, or on a role
// without its binding to the node's user (or a binding without its role).
func roles(t *testing.T, client *fake.Clientset) map[string][]string {
	t.Helper()
	ctx := context.Background()
	list, err := client.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{LabelSelector: RoleLabel})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range list.Items {
		node, ok := strings.CutPrefix(r.Name, RolePrefix)
		if !ok || r.Labels["kite.io/managed"] != "true" {
			t.Fatalf("role %s labels %v", r.Name, r.Labels)
		}
		if len(r.Rules) != 1 || !slices.Equal(r.Rules[0].APIGroups, []string{""}) || !slices.Equal(r.Rules[0].Resources, []string{"persistentvolumes"}) ||
			!slices.Equal(r.Rules[0].Verbs, []string{"delete"}) || len(r.Rules[0].ResourceNames) == 0 || len(r.Rules[0].NonResourceURLs) != 0 {
			t.Fatalf("role %s rules %+v", r.Name, r.Rules)
		}
		got[node] = r.Rules[0].ResourceNames
		b, err := client.RbacV1().ClusterRoleBindings().Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("binding of %s: %v", r.Name, err)
		}
		want := rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "system:node:" + node}
		if b.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: r.Name}) || len(b.Subjects) != 1 || b.Subjects[0] != want || b.Labels[RoleLabel] != "true" {
			t.Fatalf("binding %s: %+v %+v %v", b.Name, b.RoleRef, b.Subjects, b.Labels)
		}
	}
	bindings, err := client.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{LabelSelector: RoleLabel})
	if err != nil {
		t.Fatal(err)
	}
	if len(bindings.Items) != len(list.Items) {
		t.Fatalf("%d bindings for %d roles", len(bindings.Items), len(list.Items))
	}
	return got
}

func equalGrants(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

// writes counts the role and binding writes (apply, create, update, delete)
// since the last call.
func writes(client *fake.Clientset) int {
	n := 0
	for _, a := range client.Actions() {
		switch a.GetVerb() {
		case "patch", "create", "update", "delete":
			n++
		}
	}
	client.ClearActions()
	return n
}

// Each node's role names its own local volumes and nothing else; it
// follows the node's volumes and goes with the last one.
func TestEachNodesRoleNamesOnlyItsOwnVolumes(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	c := newController(client)

	a1, a2, b1 := provisioned("a1", "node-a"), provisioned("a2", "node-a"), provisioned("b1", "node-b")
	nfs := provisioned("nfs", "node-a")
	nfs.Annotations[localpath.ProvisionedBy] = "example.com/nfs"
	bare := provisioned("bare", "node-a")
	bare.Annotations = nil
	pvs := []*corev1.PersistentVolume{a2, b1, nfs, a1, bare}

	c.grant(ctx, pvs)
	want := map[string][]string{"node-a": {"pvc-a1", "pvc-a2"}, "node-b": {"pvc-b1"}}
	if got := roles(t, client); !equalGrants(got, want) {
		t.Fatalf("roles %v, want %v", got, want)
	}
	writes(client)
	c.grant(ctx, pvs)
	if n := writes(client); n != 0 {
		t.Fatalf("%d writes with no volume changed", n)
	}

	c.grant(ctx, []*corev1.PersistentVolume{a1, b1, nfs})
	want = map[string][]string{"node-a": {"pvc-a1"}, "node-b": {"pvc-b1"}}
	if got := roles(t, client); !equalGrants(got, want) {
		t.Fatalf("after a2 deleted: roles %v, want %v", got, want)
	}
	if n := writes(client); n != 2 {
		t.Fatalf("%d writes for one node's change, want its role and binding", n)
	}

	c.grant(ctx, []*corev1.PersistentVolume{b1, nfs})
	want = map[string][]string{"node-b": {"pvc-b1"}}
	if got := roles(t, client); !equalGrants(got, want) {
		t.Fatalf("after node-a's last volume deleted: roles %v, want %v", got, want)
	}
	if _, err := client.RbacV1().ClusterRoleBindings().Get(ctx, RolePrefix+"node-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("node-a's binding: %v", err)
	}

	c.grant(ctx, []*corev1.PersistentVolume{nfs})
	if got := roles(t, client); len(got) != 0 {
		t.Fatalf("no local volume left: roles %v", got)
	}
}

// After a restart, a role left for a node with no volume now goes, a
// binding without its role too, and a role naming other volumes is
// rewritten.
func TestRestartedControllerFixesWhatItFinds(t *testing.T) {
	ctx := context.Background()
	meta := func(node string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: RolePrefix + node, Labels: map[string]string{RoleLabel: "true"}}
	}
	stale := &rbacv1.ClusterRole{ObjectMeta: meta("gone"), Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"persistentvolumes"}, Verbs: []string{"delete"}, ResourceNames: []string{"pvc-old"}}}}
	orphan := &rbacv1.ClusterRoleBinding{ObjectMeta: meta("orphan"), RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: RolePrefix + "orphan"}}
	wrong := &rbacv1.ClusterRole{ObjectMeta: meta("node-b"), Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"persistentvolumes"}, Verbs: []string{"delete"}, ResourceNames: []string{"pvc-b1", "pvc-x"}}}}
	client := fake.NewClientset(stale, orphan, wrong)
	c := newController(client)
	c.grant(ctx, []*corev1.PersistentVolume{provisioned("b1", "node-b")})
	want := map[string][]string{"node-b": {"pvc-b1"}}
	if got := roles(t, client); !equalGrants(got, want) {
		t.Fatalf("roles %v, want %v", got, want)
	}
}

// Only a volume pinned, as Volume pins it, to one valid node name is a
// node's.
func TestNodeOf(t *testing.T) {
	if node, ok := NodeOf(provisioned("1", "edge-1")); !ok || node != "edge-1" {
		t.Fatalf("a provisioned volume: %q %v", node, ok)
	}
	for what, change := range map[string]func(*corev1.PersistentVolume){
		"another provisioner": func(pv *corev1.PersistentVolume) { pv.Annotations[localpath.ProvisionedBy] = "example.com/nfs" },
		"not hostPath":        func(pv *corev1.PersistentVolume) { pv.Spec.HostPath = nil },
		"no affinity":         func(pv *corev1.PersistentVolume) { pv.Spec.NodeAffinity = nil },
		"two terms": func(pv *corev1.PersistentVolume) {
			terms := &pv.Spec.NodeAffinity.Required.NodeSelectorTerms
			*terms = append(*terms, corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"edge-2"}}}})
		},
		"two nodes": func(pv *corev1.PersistentVolume) {
			e := &pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0]
			e.Values = append(e.Values, "edge-2")
		},
		"NotIn": func(pv *corev1.PersistentVolume) {
			pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Operator = corev1.NodeSelectorOpNotIn
		},
		"another label": func(pv *corev1.PersistentVolume) {
			pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Key = corev1.LabelTopologyZone
		},
		"not a node name": func(pv *corev1.PersistentVolume) {
			pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values = []string{"a/../b"}
		},
	} {
		pv := provisioned("1", "edge-1")
		change(pv)
		if node, ok := NodeOf(pv); ok {
			t.Errorf("%s: the volume of %q", what, node)
		}
	}
}

// The role's name is a valid RBAC name, and its labels valid, for any
// valid node name, the longest too.
func TestRoleNameValidForEveryNodeName(t *testing.T) {
	long := strings.Repeat(strings.Repeat("a", 62)+".", 4)[:252] + "z"
	for _, node := range []string{"a", "edge-1", "node.example.com", long} {
		if errs := validation.IsDNS1123Subdomain(node); len(errs) != 0 {
			t.Fatalf("%q is not a node name: %v", node, errs)
		}
		if errs := path.IsValidPathSegmentName(RolePrefix + node); len(errs) != 0 {
			t.Errorf("role of %q: %v", node, errs)
		}
	}
	for k, v := range roleLabels() {
		if len(validation.IsQualifiedName(k)) != 0 || len(validation.IsValidLabelValue(v)) != 0 {
			t.Errorf("label %s=%s", k, v)
		}
	}
}

// The controller sees the volumes through the shared informers.
func TestControllerWatchesVolumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := fake.NewClientset(provisioned("a1", "node-a"))
	c := newController(client)
	c.Informers = informers.NewSharedInformerFactory(client, 0)
	if err := c.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	c.Informers.Start(ctx.Done())
	c.Informers.WaitForCacheSync(ctx.Done())
	c.sync(ctx)
	if got := roles(t, client); !equalGrants(got, map[string][]string{"node-a": {"pvc-a1"}}) {
		t.Fatalf("roles %v", got)
	}
	cancel()
	c.Informers.Shutdown()
}
