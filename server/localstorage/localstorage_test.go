package localstorage

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kite-project/kite/pkg/localpath"
)

func TestVolumeIsInTheNodesFolderAndPinnedToIt(t *testing.T) {
	class := "local-path"
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "shop", UID: "1234"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "edge-1",
		Labels:      map[string]string{corev1.LabelHostname: "edge-1"},
		Annotations: map[string]string{localpath.PathAnnotation: "/srv/kite/storage"}}}
	pv := Volume(pvc, node, nil)
	if pv.Name != "pvc-1234" || pv.Spec.HostPath.Path != "/srv/kite/storage/pvc-1234_shop_data" {
		t.Fatalf("volume %s at %s", pv.Name, pv.Spec.HostPath.Path)
	}
	if pv.Spec.ClaimRef.UID != "1234" || pv.Spec.StorageClassName != class || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		t.Fatalf("spec %+v", pv.Spec)
	}
	if got := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values; len(got) != 1 || got[0] != "edge-1" {
		t.Fatalf("pinned to %v", got)
	}
	if q := pv.Spec.Capacity[corev1.ResourceStorage]; q.String() != "1Gi" {
		t.Fatalf("capacity %s", q.String())
	}
	delete(node.Annotations, localpath.PathAnnotation)
	if p := Volume(pvc, node, nil).Spec.HostPath.Path; p != localpath.DefaultPath+"/pvc-1234_shop_data" {
		t.Fatalf("a node with no announced folder: %s", p)
	}
}
