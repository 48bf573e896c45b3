package localstorage

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

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
		{pinned(volume("/var/lib/kite/storage/pvc-1_default_data", "edge-1", localpath.Provisioner), func(e *corev1.NodeSelectorRequirement) { e.Operator = corev1.NodeSelectorOpNotIn }), false},
		{pinned(volume("/var/lib/kite/storage/pvc-1_default_data", "edge-1", localpath.Provisioner), func(e *corev1.NodeSelectorRequirement) { e.Values = append(e.Values, "edge-2") }), false},
		{twoTerms(volume("/var/lib/kite/storage/pvc-1_default_data", "edge-1", localpath.Provisioner)), false},
	} {
		if got := c.mine(v.pv); got != v.mine {
			t.Errorf("%s on %s by %s: mine=%v", v.pv.Spec.HostPath.Path, v.pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0], v.pv.Annotations[localpath.ProvisionedBy], got)
		}
	}
}

func pinned(pv *corev1.PersistentVolume, change func(*corev1.NodeSelectorRequirement)) *corev1.PersistentVolume {
	change(&pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0])
	return pv
}

// twoTerms lets pv on edge-2 too: it is no longer one node's.
func twoTerms(pv *corev1.PersistentVolume) *corev1.PersistentVolume {
	terms := &pv.Spec.NodeAffinity.Required.NodeSelectorTerms
	*terms = append(*terms, corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"edge-2"}}}})
	return pv
}

// A refused deletion (the server has not granted the node this volume) is
// logged as such, once, and the volume is left for a later try.
func TestForbiddenDeletionIsLoggedOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	folder := filepath.Join(dir, "pvc-1_default_data")
	if err := os.Mkdir(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	pv := volume(folder, "edge-1", localpath.Provisioner)
	pv.Name = "pvc-1"
	pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	pv.Status.Phase = corev1.VolumeReleased
	client := fake.NewClientset(pv)
	client.PrependReactor("delete", "persistentvolumes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "persistentvolumes"}, "pvc-1", nil)
	})
	var logs bytes.Buffer
	c := &Cleaner{NodeName: "edge-1", Dir: dir, Log: slog.New(slog.NewTextHandler(&logs, nil)), client: client}
	factory := informers.NewSharedInformerFactory(client, 0)
	c.volumes = factory.Core().V1().PersistentVolumes().Lister()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	defer func() { cancel(); factory.Shutdown() }()
	c.clean(ctx)
	c.clean(ctx)
	if n := strings.Count(logs.String(), "forbidden to delete a released local volume"); n != 1 {
		t.Fatalf("%d forbidden messages:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "kite:node-volumes:edge-1") || strings.Contains(logs.String(), "released local volume removed") {
		t.Fatalf("logs:\n%s", logs.String())
	}
	if _, err := client.CoreV1().PersistentVolumes().Get(ctx, "pvc-1", metav1.GetOptions{}); err != nil {
		t.Fatalf("the volume: %v", err)
	}
}
