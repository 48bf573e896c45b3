package snapshots

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/robfig/cron/v3"
	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/kite-project/kite/server/crd"
)

// Resource is K3s's kind for snapshots, so that tools that know K3s's
// snapshots find kite's: cluster-scoped, one object per file.
var Resource = schema.GroupVersionResource{Group: "k3s.cattle.io", Version: "v1", Resource: "etcdsnapshotfiles"}

// NodeLabel names, on an ETCDSnapshotFile, the node whose server keeps
// the file: each server lists its own.
const NodeLabel = "etcd.kite.io/snapshot-node"

const definition = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: etcdsnapshotfiles.k3s.cattle.io
spec:
  group: k3s.cattle.io
  names: {kind: ETCDSnapshotFile, listKind: ETCDSnapshotFileList, plural: etcdsnapshotfiles, singular: etcdsnapshotfile}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: SnapshotName, type: string, jsonPath: .spec.snapshotName}
    - {name: Node, type: string, jsonPath: .spec.nodeName}
    - {name: Location, type: string, jsonPath: .spec.location}
    - {name: Size, type: string, jsonPath: .status.size}
    - {name: CreationTime, type: date, jsonPath: .status.creationTime}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              snapshotName: {type: string}
              nodeName: {type: string}
              location: {type: string}
          status:
            type: object
            properties:
              readyToUse: {type: boolean}
              size: {type: string}
              creationTime: {type: string, format: date-time}
`

// Controller is a server's snapshot keeper: it takes the scheduled
// snapshots (unless Schedule is ""), keeps the newest Retention of them,
// and lists the server's snapshot files in the API, adding the ones
// 'kite etcd-snapshot' saved and dropping the deleted.
type Controller struct {
	Etcd      func() *clientv3.Client // the in-process client, once etcd is ready
	Dir       string
	Node      string
	Schedule  string // cron, validated by pkg/config
	Retention int
	Compress  bool
	Config    *rest.Config
	Log       *slog.Logger

	// Resync is how often the folder is compared with the API.
	Resync time.Duration

	client  dynamic.Interface
	disc    discovery.DiscoveryInterface
	settled chan struct{}
}

func (c *Controller) Name() string { return "etcd snapshots" }

func (c *Controller) Prepare(context.Context) error {
	var err error
	if c.client, err = dynamic.NewForConfig(c.Config); err != nil {
		return err
	}
	if c.disc, err = discovery.NewDiscoveryClientForConfig(c.Config); err != nil {
		return err
	}
	if c.Resync == 0 {
		c.Resync = 10 * time.Second
	}
	c.settled = make(chan struct{})
	return nil
}

// Settled starts the listing: a new CRD makes the API server rebuild its
// OpenAPI, CPU that start-up should not share.
func (c *Controller) Settled() { close(c.settled) }

func (c *Controller) Ready(context.Context) error { return nil }

func (c *Controller) Run(ctx context.Context) error {
	var schedule cron.Schedule
	if c.Schedule != "" {
		var err error
		if schedule, err = cron.ParseStandard(c.Schedule); err != nil {
			return fmt.Errorf("--etcd-snapshot-schedule-cron: %w", err)
		}
	}
	select {
	case <-c.settled:
	case <-ctx.Done():
		return nil
	}
	installed := false
	resync := time.NewTicker(c.Resync)
	defer resync.Stop()
	var next <-chan time.Time
	if schedule != nil {
		at := schedule.Next(time.Now())
		c.Log.Info("scheduled etcd snapshots", "next", at.Format(time.RFC3339), "dir", c.Dir, "retention", c.Retention)
		next = time.After(time.Until(at))
	}
	for {
		if !installed {
			if err := crd.Install(ctx, c.client, c.disc, "kite", definition, Resource.GroupVersion(), Resource.Resource); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				c.Log.Warn("cannot list etcd snapshots in the API yet; retrying", "err", err)
			} else {
				installed = true
			}
		}
		if installed {
			if err := c.sync(ctx); err != nil && ctx.Err() == nil {
				c.Log.Warn("cannot list this server's etcd snapshots in the API; retrying", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-resync.C:
		case <-next:
			c.scheduled(ctx)
			next = time.After(time.Until(schedule.Next(time.Now())))
		}
	}
}

// scheduled takes a scheduled snapshot and prunes the old ones.
func (c *Controller) scheduled(ctx context.Context) {
	start := time.Now()
	f, err := Save(ctx, c.Etcd(), c.Dir, ScheduledName, c.Node, c.Compress, start)
	if err != nil {
		c.Log.Error("scheduled etcd snapshot failed", "err", err)
		return
	}
	c.Log.Info("saved a scheduled etcd snapshot", "file", f.Path, "size", f.Size, "took", time.Since(start).Round(time.Millisecond))
	removed, err := Prune(c.Dir, ScheduledName, c.Node, c.Retention)
	if err != nil {
		c.Log.Error("cannot prune old etcd snapshots", "err", err)
	}
	if len(removed) > 0 {
		c.Log.Info("pruned old etcd snapshots", "removed", removed, "retention", c.Retention)
	}
}

// sync makes the API's list of this node's snapshots that of the folder.
func (c *Controller) sync(ctx context.Context) error {
	files, err := List(c.Dir)
	if err != nil {
		return err
	}
	api := c.client.Resource(Resource)
	listed, err := api.List(ctx, metav1.ListOptions{LabelSelector: NodeLabel + "=" + c.Node})
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, obj := range listed.Items {
		have[obj.GetName()] = true
	}
	for _, f := range files {
		if have[f.Name] {
			delete(have, f.Name)
			continue
		}
		if _, err := api.Create(ctx, c.object(f), metav1.CreateOptions{FieldManager: "kite"}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	for name := range have {
		if err := api.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

func (c *Controller) object(f File) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": Resource.GroupVersion().String(),
		"kind":       "ETCDSnapshotFile",
		"metadata": map[string]any{
			"name":   f.Name,
			"labels": map[string]any{NodeLabel: c.Node},
		},
		"spec": map[string]any{
			"snapshotName": f.Name,
			"nodeName":     c.Node,
			"location":     "file://" + f.Path,
		},
		"status": map[string]any{
			"readyToUse":   true,
			"size":         strconv.FormatInt(f.Size, 10),
			"creationTime": f.Created.UTC().Format(time.RFC3339),
		},
	}}
}
