// Package localstorage is the node's half of the local-path storage
// add-on: it announces the node's storage folder (a Node annotation the
// server's provisioner reads), and removes the folder of a released local
// volume of this node, then the volume. The kubelet makes the folder
// (hostPath, DirectoryOrCreate) when a pod first mounts it.
package localstorage

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/kite-project/kite/pkg/kubeclient"
	"github.com/kite-project/kite/pkg/localpath"
)

// Cleaner is the component.
type Cleaner struct {
	Kubeconfig string // the kubelet's
	NodeName   string
	Dir        string // <data-dir>/storage
	Log        *slog.Logger

	client    kubernetes.Interface
	volumes   corelisters.PersistentVolumeLister
	forbidden map[string]bool // volumes whose deletion was refused, told once
}

func (c *Cleaner) Name() string { return "local storage" }

func (c *Cleaner) Prepare(context.Context) error {
	if err := os.MkdirAll(c.Dir, 0o711); err != nil {
		return err
	}
	cs, err := kubeclient.FromFile(c.Kubeconfig)
	c.client = cs
	return err
}

func (c *Cleaner) Ready(context.Context) error { return nil }

func (c *Cleaner) Run(ctx context.Context) error {
	// A watch of the volumes, not a list every few seconds: every node runs this.
	factory := informers.NewSharedInformerFactory(c.client, 10*time.Minute)
	volumes := factory.Core().V1().PersistentVolumes()
	c.volumes = volumes.Lister()
	factory.Start(ctx.Done())
	announced := false
	for {
		if !announced {
			announced = c.announce(ctx) == nil
		}
		if volumes.Informer().HasSynced() {
			c.clean(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
	}
}

// announce writes the node's storage folder on its Node.
func (c *Cleaner) announce(ctx context.Context) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{localpath.PathAnnotation: c.Dir}}})
	_, err := c.client.CoreV1().Nodes().Patch(ctx, c.NodeName, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// clean removes released local volumes of this node.
func (c *Cleaner) clean(ctx context.Context) {
	pvs, err := c.volumes.List(labels.Everything())
	if err != nil {
		return
	}
	for name := range c.forbidden {
		if _, err := c.volumes.Get(name); apierrors.IsNotFound(err) {
			delete(c.forbidden, name)
		}
	}
	for _, pv := range pvs {
		if !c.mine(pv) || pv.Status.Phase != corev1.VolumeReleased || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
			continue
		}
		if err := os.RemoveAll(pv.Spec.HostPath.Path); err != nil {
			c.Log.Warn("cannot remove a released local volume's folder", "volume", pv.Name, "path", pv.Spec.HostPath.Path, "err", err)
			continue
		}
		err := c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
		if apierrors.IsForbidden(err) {
			// A node may delete only the volumes its role names (the server
			// keeps ClusterRole kite:node-volumes:<node>, see
			// server/localstorage): told once a volume, retried meanwhile.
			if !c.forbidden[pv.Name] {
				c.Log.Error("forbidden to delete a released local volume of this node: a node may delete only the volumes its ClusterRole names; retrying",
					"volume", pv.Name, "role", "kite:node-volumes:"+c.NodeName, "err", err)
				if c.forbidden == nil {
					c.forbidden = map[string]bool{}
				}
				c.forbidden[pv.Name] = true
			}
			continue
		}
		if err != nil && !apierrors.IsNotFound(err) {
			c.Log.Warn("cannot delete a released local volume", "volume", pv.Name, "err", err)
			continue
		}
		delete(c.forbidden, pv.Name)
		c.Log.Info("released local volume removed", "volume", pv.Name, "path", pv.Spec.HostPath.Path)
	}
}

// mine reports whether pv is a local-path volume of this node whose folder
// is directly in this node's storage folder: nothing else is ever removed.
func (c *Cleaner) mine(pv *corev1.PersistentVolume) bool {
	if pv.Annotations[localpath.ProvisionedBy] != localpath.Provisioner || pv.Spec.HostPath == nil {
		return false
	}
	if filepath.Dir(filepath.Clean(pv.Spec.HostPath.Path)) != filepath.Clean(c.Dir) {
		return false
	}
	// Pinned to this node alone, as the server pins the volumes it
	// provisions, and as it requires to let the node delete the volume.
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil || len(na.Required.NodeSelectorTerms) != 1 {
		return false
	}
	term := na.Required.NodeSelectorTerms[0]
	if len(term.MatchExpressions) != 1 || len(term.MatchFields) != 0 {
		return false
	}
	e := term.MatchExpressions[0]
	return e.Key == corev1.LabelHostname && e.Operator == corev1.NodeSelectorOpIn && len(e.Values) == 1 && e.Values[0] == c.NodeName
}
