package localstorage

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kite-project/kite/pkg/localpath"
)

func volume(path, node, provisioner string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{localpath.ProvisionedBy: provisioner}},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
	}
}

// Only a local-path volume of this node, directly in its storage folder,
// is ever removed: a volume is data, and its path comes from the API.
func TestOnlyThisNodesLocalVolumesAreRemoved(t *testing.T) {
	c := &Cleaner{NodeName: "edge-1", Dir: "/var/lib/kite/storage"}
	for _, v := range []struct {
		pv   *corev1.PersistentVolume
		mine bool
	}{
		{volume("/var/lib/kite/storage/pvc-1_default_data", "edge-1", localpath.Provisioner), true},
		{volume("/var/lib/kite/storage/pvc-1_default_data", "edge-2", localpath.Provisioner), false},
		{volume("/var/lib/kite/storage/pvc-1_default_data", "edge-1", "example.com/nfs"), false},
		{volume("/var/lib/kite/storage", "edge-1", localpath.Provisioner), false},
		{volume("/var/lib/kite/storage/../../../etc", "edge-1", localpath.Provisioner), false},
		{volume("/var/lib/kite/storage/a/b", "edge-1", localpath.Provisioner), false},
		{volume("/home", "edge-1", localpath.Provisioner), false},
	} {
		if got := c.mine(v.pv); got != v.mine {
			t.Errorf("%s on %s by %s: mine=%v", v.pv.Spec.HostPath.Path, v.pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0], v.pv.Annotations[localpath.ProvisionedBy], got)
		}
	}
}
