// Package helmcontroller installs Helm charts named by HelmChart objects
// (helm.cattle.io/v1, as in K3s), with Helm's Go SDK, in the kite server
// process: no pod, no job, no helm binary. It defines the HelmChart and
// HelmChartConfig CRDs, watches both kinds and, for each HelmChart:
//
//   - finds the chart: spec.chartContent (a base64 .tgz), else spec.chart
//     as a .tgz or folder (relative paths are in the manifests folder),
//     else spec.chart from spec.repo or a URL (downloaded by the server);
//   - computes the values: spec.valuesContent, the valuesContent of the
//     HelmChartConfig of the same name and namespace over it, spec.set
//     over both (Helm puts them over the chart's values.yaml);
//   - installs the release (named after the HelmChart, in
//     spec.targetNamespace or the HelmChart's namespace), or upgrades it
//     when the chart or the values changed (a hash of both is kept in a
//     label of the release), or when it failed or was left half done;
//   - reports in status.conditions (Deployed, Failed), status.revision, an
//     Event and the log; failures are retried with a growing delay;
//   - on deletion, uninstalls the release (a finalizer holds the
//     HelmChart until then).
//
// Releases are stored as Secrets, as the helm command does, so `helm list
// -A` shows them. Creating a HelmChart is as powerful as being a cluster
// administrator: the server installs whatever the chart holds.
package helmcontroller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Finalizer holds a HelmChart until its release is uninstalled.
const Finalizer = "helm.kite.io/uninstall"

const (
	// fieldManager owns the CRDs, as it owns what the manifests folder
	// applies.
	fieldManager = "kite"
	// controllerManager owns the finalizer and status of HelmCharts (a name
	// of its own: the managed fields tell them from a manifest's apply).
	controllerManager = "kite-helm-controller"
	// workers is how many charts are handled at once (a chart's hooks may
	// take minutes).
	workers = 2
	// resync re-checks every HelmChart now and then (a release removed by
	// hand is installed again).
	resync = 10 * time.Minute
)

// Controller is the component.
type Controller struct {
	Config *rest.Config // an administrator's
	// Kubeconfig is the administrator's kubeconfig file, for Helm.
	Kubeconfig string
	// ManifestsDir is where relative chart paths are.
	ManifestsDir string
	// CacheDir holds Helm's caches (pkg/datadir's HelmDir).
	CacheDir string
	Log      *slog.Logger
	// Remove undoes the controller (--disable helm-controller): at start
	// it takes its finalizer off every HelmChart, so they can be deleted
	// with no controller to uninstall their releases (which stay), and
	// does nothing more. The CRDs stay: deleting them would delete the
	// users' HelmCharts.
	Remove bool

	client  kubernetes.Interface
	dynamic dynamic.Interface
	queue   workqueue.TypedRateLimitingInterface[string]
	charts  informers.GenericInformer
	configs informers.GenericInformer
	ready   chan struct{}
}

func (c *Controller) Name() string { return "helm-controller" }

func (c *Controller) Prepare(context.Context) error {
	if c.Config == nil || c.Kubeconfig == "" || c.ManifestsDir == "" || c.CacheDir == "" {
		return errors.New("the helm controller needs Config, Kubeconfig, ManifestsDir and CacheDir")
	}
	if _, err := os.Stat(c.Kubeconfig); err != nil {
		return fmt.Errorf("the kubeconfig for Helm: %w", err)
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if err := os.MkdirAll(c.CacheDir, 0o700); err != nil {
		return err
	}
	var err error
	if c.client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return err
	}
	if c.dynamic, err = dynamic.NewForConfig(c.Config); err != nil {
		return err
	}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](2*time.Second, 5*time.Minute),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "helmcharts"})
	c.ready = make(chan struct{})
	return nil
}

// Ready once the kinds are served and known to the controller: HelmChart
// manifests can be applied from then on.
func (c *Controller) Ready(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	if c.Remove {
		close(c.ready)
		c.releaseAll(ctx)
		<-ctx.Done()
		return nil
	}
	if err := ensureCRDs(ctx, c.dynamic, c.client.Discovery()); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	factory := dynamicinformer.NewDynamicSharedInformerFactory(c.dynamic, resync)
	c.charts = factory.ForResource(chartResource)
	c.configs = factory.ForResource(configResource)
	_, err := c.charts.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, obj any) {
			// Not for the controller's own writes (status, finalizer): a
			// status that changes at every failure would undo the back-off.
			o, n := old.(*unstructured.Unstructured), obj.(*unstructured.Unstructured)
			if o.GetGeneration() != n.GetGeneration() || n.GetDeletionTimestamp() != nil || o.GetResourceVersion() == n.GetResourceVersion() /* resync */ {
				c.enqueue(obj)
			}
		},
		DeleteFunc: c.enqueue,
	})
	if err != nil {
		return err
	}
	// A HelmChartConfig counts for the HelmChart of the same name.
	_, err = c.configs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
		DeleteFunc: c.enqueue,
	})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), c.charts.Informer().HasSynced, c.configs.Informer().HasSynced) {
		return nil // stopped
	}
	close(c.ready)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// next handles one queued HelmChart; false once the queue is shut down.
func (c *Controller) next(ctx context.Context) bool {
	key, stop := c.queue.Get()
	if stop {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil && ctx.Err() == nil {
		// Reported by sync already (status, Event, log) when it is news.
		c.Log.Debug("HelmChart not done; retrying later", "helmchart", key, "err", err)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// helmChart is the part of a HelmChart the controller reads and writes.
type helmChart struct {
	metav1.ObjectMeta
	Spec   chartSpec
	Status chartStatus
}

type chartStatus struct {
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Revision is the release's revision after the last success.
	Revision int `json:"revision,omitempty"`
	// ReleaseNamespace is where a release was last made.
	ReleaseNamespace string `json:"releaseNamespace,omitempty"`
}

// decode reads a HelmChart; a spec that does not fit is an error, with the
// metadata and status still read.
func decode(u *unstructured.Unstructured) (*helmChart, error) {
	hc := &helmChart{}
	into := func(field string, v any) error {
		data, err := json.Marshal(u.Object[field])
		if err == nil && u.Object[field] != nil {
			err = json.Unmarshal(data, v)
		}
		return err
	}
	if err := into("metadata", &hc.ObjectMeta); err != nil {
		return nil, err
	}
	into("status", &hc.Status) // written by this controller; a bad one is replaced
	if err := into("spec", &hc.Spec); err != nil {
		return hc, fmt.Errorf("spec: %v", err)
	}
	return hc, nil
}

func (hc *helmChart) key() string { return hc.Namespace + "/" + hc.Name }

// releaseNamespace is where the HelmChart's release belongs.
func (hc *helmChart) releaseNamespace() string {
	if hc.Spec.TargetNamespace != "" {
		return hc.Spec.TargetNamespace
	}
	return hc.Namespace
}

// sync brings one HelmChart's release to what it says.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	obj, err := c.charts.Lister().ByNamespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // gone; its finalizer saw to its release
	}
	if err != nil {
		return err
	}
	hc, err := decode(obj.(*unstructured.Unstructured))
	if hc == nil {
		return err
	}
	if hc.DeletionTimestamp != nil {
		return c.remove(ctx, hc)
	}
	if err != nil {
		return c.report(ctx, hc, outcome{reason: "InvalidSpec", err: err})
	}
	if !slices.Contains(hc.Finalizers, Finalizer) {
		if err := c.setFinalizers(ctx, hc, append(slices.Clone(hc.Finalizers), Finalizer)); err != nil {
			return err
		}
	}

	var configValues string
	if cfg, err := c.configs.Lister().ByNamespace(ns).Get(name); err == nil {
		configValues, _, _ = unstructured.NestedString(cfg.(*unstructured.Unstructured).Object, "spec", "valuesContent")
	}
	vals, err := chartValues(hc.Spec, configValues)
	if err != nil {
		return c.report(ctx, hc, outcome{reason: "InvalidValues", err: err})
	}
	src, err := resolveChart(hc.Spec, c.ManifestsDir)
	if err != nil {
		return c.report(ctx, hc, outcome{reason: "ChartUnavailable", err: err})
	}
	hash := configHash(src.Digest, vals)
	relNS := hc.releaseNamespace()

	// The release moved (a new targetNamespace): the old one goes first.
	if old := hc.Status.ReleaseNamespace; old != "" && old != relNS {
		if err := c.uninstall(ctx, hc, old); err != nil {
			return err
		}
	}
	last, err := lastRelease(c.releases(relNS), hc.Name)
	if err != nil {
		return err
	}
	if upToDate(last, hash) {
		if hc.Status.ReleaseNamespace != relNS { // not recorded yet, or a move back
			return c.patchStatus(ctx, hc, map[string]any{"releaseNamespace": relNS})
		}
		return nil
	}
	ch, err := src.Load()
	if err != nil {
		return c.report(ctx, hc, outcome{reason: "ChartUnavailable", err: err})
	}
	cfg, err := helmConfig(c.Kubeconfig, c.CacheDir, relNS, c.Log)
	if err != nil {
		return err
	}
	rel, did, err := deploy(ctx, cfg, request{name: hc.Name, namespace: relNS, createNamespace: hc.Spec.CreateNamespace, chart: ch, values: vals, hash: hash})
	if err != nil {
		if ctx.Err() != nil {
			return err // stopping: the next start goes on
		}
		reason := "InstallFailed"
		if did == upgraded {
			reason = "UpgradeFailed"
		}
		return c.report(ctx, hc, outcome{reason: reason, err: err, namespace: relNS})
	}
	return c.report(ctx, hc, outcome{reason: did, release: rel, namespace: relNS})
}

// releases reads the releases of namespace (no Helm client needed).
func (c *Controller) releases(namespace string) *storage.Storage {
	return storage.Init(driver.NewSecrets(c.client.CoreV1().Secrets(namespace)))
}

// remove uninstalls a deleted HelmChart's release, then lets it go.
func (c *Controller) remove(ctx context.Context, hc *helmChart) error {
	if !slices.Contains(hc.Finalizers, Finalizer) {
		return nil
	}
	ns := hc.Status.ReleaseNamespace
	if ns == "" {
		ns = hc.releaseNamespace()
	}
	if err := c.uninstall(ctx, hc, ns); err != nil {
		return err
	}
	return c.setFinalizers(ctx, hc, slices.DeleteFunc(slices.Clone(hc.Finalizers), func(f string) bool { return f == Finalizer }))
}

// uninstall removes the HelmChart's release from namespace, if there.
func (c *Controller) uninstall(ctx context.Context, hc *helmChart, namespace string) error {
	cfg, err := helmConfig(c.Kubeconfig, c.CacheDir, namespace, c.Log)
	if err != nil {
		return err
	}
	found, err := uninstall(cfg, hc.Name)
	if err != nil {
		return c.report(ctx, hc, outcome{reason: "UninstallFailed", err: err})
	}
	if found {
		msg := fmt.Sprintf("release %s/%s uninstalled", namespace, hc.Name)
		c.Log.Info("helm chart uninstalled", "helmchart", hc.key(), "release", namespace+"/"+hc.Name)
		c.event(ctx, hc, corev1.EventTypeNormal, "Uninstalled", msg)
	}
	return nil
}

// releaseAll takes the finalizer off every HelmChart (--disable).
func (c *Controller) releaseAll(ctx context.Context) {
	list, err := c.dynamic.Resource(chartResource).List(ctx, metav1.ListOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) && ctx.Err() == nil { // NotFound: the CRD was never made
			c.Log.Warn("cannot list HelmCharts to release them", "err", err)
		}
		return
	}
	for i := range list.Items {
		hc, _ := decode(&list.Items[i])
		if hc == nil || !slices.Contains(hc.Finalizers, Finalizer) {
			continue
		}
		kept := slices.DeleteFunc(slices.Clone(hc.Finalizers), func(f string) bool { return f == Finalizer })
		if err := c.setFinalizers(ctx, hc, kept); err != nil {
			c.Log.Warn("cannot take the helm controller's finalizer off a HelmChart", "helmchart", hc.key(), "err", err)
			continue
		}
		c.Log.Info("helm controller disabled: HelmChart left alone, its release kept", "helmchart", hc.key())
	}
}

// setFinalizers writes the HelmChart's finalizers, if it did not change
// meanwhile (else the sync is retried).
func (c *Controller) setFinalizers(ctx context.Context, hc *helmChart, finalizers []string) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"finalizers": finalizers, "resourceVersion": hc.ResourceVersion,
	}})
	u, err := c.dynamic.Resource(chartResource).Namespace(hc.Namespace).Patch(ctx, hc.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: controllerManager})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	hc.Finalizers, hc.ResourceVersion = u.GetFinalizers(), u.GetResourceVersion()
	return nil
}

// outcome is the result of one attempt at a HelmChart.
type outcome struct {
	reason    string
	err       error            // nil on success
	release   *release.Release // on success
	namespace string           // where a Helm action was tried, if one was
}

// report writes the outcome into the HelmChart's status, and, when it is
// news (an install, an upgrade, a new failure), to the log and as an
// Event. It returns the outcome's error, for a retry.
func (c *Controller) report(ctx context.Context, hc *helmChart, o outcome) error {
	deployed := metav1.Condition{Type: "Deployed", Status: metav1.ConditionTrue, Reason: o.reason, ObservedGeneration: hc.Generation}
	failed := metav1.Condition{Type: "Failed", Status: metav1.ConditionFalse, Reason: o.reason, ObservedGeneration: hc.Generation}
	// Only what this outcome knows is written: the cached status may lag
	// behind the last write.
	status := map[string]any{}
	if o.err != nil {
		deployed.Status, failed.Status = metav1.ConditionFalse, metav1.ConditionTrue
		deployed.Message, failed.Message = o.err.Error(), o.err.Error()
	} else {
		status["revision"] = o.release.Version
		deployed.Message = fmt.Sprintf("release %s/%s revision %d: chart %s-%s",
			o.release.Namespace, o.release.Name, o.release.Version, o.release.Chart.Metadata.Name, o.release.Chart.Metadata.Version)
	}
	if o.namespace != "" {
		status["releaseNamespace"] = o.namespace
	}
	news := o.err == nil || !meta.IsStatusConditionPresentAndEqual(hc.Status.Conditions, "Failed", metav1.ConditionTrue) ||
		meta.FindStatusCondition(hc.Status.Conditions, "Failed").Message != failed.Message
	conds := slices.Clone(hc.Status.Conditions)
	meta.SetStatusCondition(&conds, deployed) // keeps lastTransitionTime if the status is the same
	meta.SetStatusCondition(&conds, failed)
	status["conditions"] = conds
	if err := c.patchStatus(ctx, hc, status); err != nil && ctx.Err() == nil {
		c.Log.Warn("cannot write a HelmChart's status", "helmchart", hc.key(), "err", err)
	}
	if news {
		if o.err != nil {
			c.Log.Error("helm chart failed", "helmchart", hc.key(), "reason", o.reason, "err", o.err)
			c.event(ctx, hc, corev1.EventTypeWarning, o.reason, o.err.Error())
		} else {
			c.Log.Info("helm chart "+map[string]string{installed: "installed", upgraded: "upgraded"}[o.reason],
				"helmchart", hc.key(), "release", o.release.Namespace+"/"+o.release.Name, "revision", o.release.Version)
			c.event(ctx, hc, corev1.EventTypeNormal, o.reason, deployed.Message)
		}
	}
	return o.err
}

// patchStatus merges status into the HelmChart's.
func (c *Controller) patchStatus(ctx context.Context, hc *helmChart, status map[string]any) error {
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	_, err = c.dynamic.Resource(chartResource).Namespace(hc.Namespace).Patch(ctx, hc.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: controllerManager}, "status")
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// event records an Event on the HelmChart.
func (c *Controller) event(ctx context.Context, hc *helmChart, typ, reason, msg string) {
	now := metav1.NewTime(time.Now())
	_, err := c.client.CoreV1().Events(hc.Namespace).Create(ctx, &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: hc.Name + "-", Namespace: hc.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "HelmChart", APIVersion: "helm.cattle.io/v1",
			Namespace: hc.Namespace, Name: hc.Name, UID: hc.UID},
		Reason: reason, Message: msg, Type: typ,
		Source:         corev1.EventSource{Component: "kite-helm-controller"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}, metav1.CreateOptions{})
	if err != nil && ctx.Err() == nil {
		c.Log.Warn("cannot record an Event", "helmchart", hc.key(), "err", err)
	}
}
