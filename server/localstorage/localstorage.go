// Package localstorage is the server's half of the local-path storage
// add-on, without a pod: for a PersistentVolumeClaim of a StorageClass
// whose provisioner is localpath.Provisioner, once the scheduler has picked the
// node (WaitForFirstConsumer), it creates a hostPath PersistentVolume in
// that node's storage folder, bound to the claim and pinned to the node.
// The node's agent (agent/localstorage) announces the folder and removes
// it, with the volume, once the claim is deleted; the controller lets each
// node delete its own local volumes and no other (roles.go).
package localstorage

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"

	"github.com/kite-project/kite/pkg/localpath"
	"github.com/kite-project/kite/server/trigger"
)

const selectedNode = "volume.kubernetes.io/selected-node"

// Controller is the component.
type Controller struct {
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory
	Log       *slog.Logger

	claims  corelisters.PersistentVolumeClaimLister
	nodes   corelisters.NodeLister
	classes storagelisters.StorageClassLister
	volumes corelisters.PersistentVolumeLister
	changed trigger.Trigger
	granted map[string][]string // node: the volumes its role names; nil: not read yet
}

func (c *Controller) Name() string { return "local storage" }

func (c *Controller) Prepare(context.Context) error {
	c.changed = trigger.New()
	pvc := c.Informers.Core().V1().PersistentVolumeClaims()
	if _, err := pvc.Informer().AddEventHandler(c.changed.On()); err != nil {
		return err
	}
	c.claims = pvc.Lister()
	pv := c.Informers.Core().V1().PersistentVolumes()
	if _, err := pv.Informer().AddEventHandler(c.changed.On()); err != nil {
		return err
	}
	c.volumes = pv.Lister()
	c.nodes = c.Informers.Core().V1().Nodes().Lister()
	c.classes = c.Informers.Storage().V1().StorageClasses().Lister()
	return nil
}

func (c *Controller) Ready(context.Context) error { return nil }

// Run starts once the server's shared informers have synced (an unsynced
// list of volumes would revoke the nodes' roles).
func (c *Controller) Run(ctx context.Context) error {
	for {
		c.sync(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-c.changed:
		case <-time.After(time.Minute): // retries what failed
		}
	}
}

func (c *Controller) sync(ctx context.Context) {
	c.provision(ctx)
	if pvs, err := c.volumes.List(labels.Everything()); err == nil {
		c.grant(ctx, pvs)
	}
}

// provision creates the volumes of the claims waiting for one.
func (c *Controller) provision(ctx context.Context) {
	claims, err := c.claims.List(labels.Everything())
	if err != nil {
		return
	}
	for _, pvc := range claims {
		node := pvc.Annotations[selectedNode]
		if pvc.Spec.VolumeName != "" || node == "" || pvc.Spec.StorageClassName == nil {
			continue
		}
		class, err := c.classes.Get(*pvc.Spec.StorageClassName)
		if err != nil || class.Provisioner != localpath.Provisioner {
			continue
		}
		pv, err := c.volumeFor(pvc, node, class.ReclaimPolicy)
		if err != nil {
			c.Log.Warn("cannot provision a local volume", "claim", pvc.Namespace+"/"+pvc.Name, "err", err)
			continue
		}
		_, err = c.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			if ctx.Err() == nil {
				c.Log.Warn("cannot create a local volume", "claim", pvc.Namespace+"/"+pvc.Name, "err", err)
			}
			continue
		}
		if err == nil {
			c.Log.Info("local volume provisioned", "claim", pvc.Namespace+"/"+pvc.Name, "node", node, "path", pv.Spec.HostPath.Path)
		}
	}
}

// volumeFor is the PersistentVolume for pvc on node.
func (c *Controller) volumeFor(pvc *corev1.PersistentVolumeClaim, nodeName string, reclaim *corev1.PersistentVolumeReclaimPolicy) (*corev1.PersistentVolume, error) {
	node, err := c.nodes.Get(nodeName)
	if err != nil {
		return nil, err
	}
	return Volume(pvc, node, reclaim), nil
}

// Volume is the hostPath PersistentVolume of pvc in node's storage folder,
// pinned to node by its host name label.
func Volume(pvc *corev1.PersistentVolumeClaim, node *corev1.Node, reclaim *corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
	dir := node.Annotations[localpath.PathAnnotation]
	if dir == "" {
		dir = localpath.DefaultPath
	}
	name := "pvc-" + string(pvc.UID)
	policy := corev1.PersistentVolumeReclaimDelete
	if reclaim != nil {
		policy = *reclaim
	}
	hostname := node.Labels[corev1.LabelHostname]
	if hostname == "" {
		hostname = node.Name
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{localpath.ProvisionedBy: localpath.Provisioner}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              *pvc.Spec.StorageClassName,
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: path.Join(dir, fmt.Sprintf("%s_%s_%s", name, pvc.Namespace, pvc.Name)),
				Type: &dirOrCreate,
			}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{hostname}}},
			}}}},
		},
	}
}
