// Package manifests applies the files of the server's manifests folder
// (<data-dir>/server/manifests) to the cluster, at start and whenever they
// change, with server-side apply (field manager "kite"). Objects removed
// from a file, or whose file is deleted, are deleted from the cluster; a
// NAME.yaml.skip file beside NAME.yaml leaves that file alone. A file that
// does not parse or apply is reported by name and line, in the log and as
// an Event, and the other files still apply.
//
// What each file put in the cluster is kept in a ConfigMap of its own in
// kube-system (StateName), so that removals are found across restarts.
package manifests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// FieldManager owns the fields kite applies.
const FieldManager = "kite"

const (
	stateNamespace = "kube-system"
	stateLabel     = "kite.io/manifest-state"
)

// Deployer is the component.
type Deployer struct {
	Dir      string
	Config   *rest.Config // an administrator's
	Interval time.Duration
	Log      *slog.Logger
	// Server names this server when several share the cluster (embedded
	// etcd): each applies its own folder, and deletes the objects of a
	// removed file only if it applied that file last, so a file another
	// server has is never deleted for lack of it here. Empty: the one
	// server.
	Server string

	client  kubernetes.Interface
	dynamic dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
	done    map[string]string  // file -> checksum of its content last handled
	failed  map[string]failure // file -> its last failed apply
}

type failure struct {
	sum string
	at  time.Time
}

// retryAfter spaces out new tries of a file that failed to apply (a kind
// whose CRD is not there yet, a namespace being deleted…).
const retryAfter = 30 * time.Second

func (d *Deployer) Name() string { return "manifests" }

func (d *Deployer) Prepare(context.Context) error {
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return err
	}
	var err error
	if d.client, err = kubernetes.NewForConfig(d.Config); err != nil {
		return err
	}
	if d.dynamic, err = dynamic.NewForConfig(d.Config); err != nil {
		return err
	}
	d.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(d.client.Discovery()))
	d.done = map[string]string{}
	d.failed = map[string]failure{}
	if d.Interval == 0 {
		d.Interval = 5 * time.Second
	}
	return nil
}

// Ready at once: a broken manifest must not hold back the server.
func (d *Deployer) Ready(context.Context) error { return nil }

func (d *Deployer) Run(ctx context.Context) error {
	for {
		d.sync(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d.Interval):
		}
	}
}

// sync applies what changed in the folder and removes what left it.
func (d *Deployer) sync(ctx context.Context) {
	entries, err := os.ReadDir(d.Dir)
	if err != nil {
		d.Log.Error("cannot read the manifests folder", "dir", d.Dir, "err", err)
		return
	}
	present := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || !isManifest(name) {
			continue
		}
		present[name] = true
		if skipped(entries, name) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(d.Dir, name))
		if err != nil {
			d.Log.Error("cannot read manifest", "file", name, "err", err)
			continue
		}
		sum := checksum(data)
		if f := d.failed[name]; d.done[name] == sum || f.sum == sum && time.Since(f.at) < retryAfter {
			continue
		}
		if err := d.apply(ctx, name, data); err != nil {
			if ctx.Err() != nil {
				return
			}
			reason := "ApplyFailed"
			var pe *ParseError
			if errors.As(err, &pe) {
				reason = "ParseFailed"
				d.done[name] = sum // reported once; the user fixes the file
			} else {
				d.failed[name] = failure{sum: sum, at: time.Now()}
			}
			d.Log.Error("manifest not applied", "file", name, "err", err)
			d.event(ctx, name, reason, err.Error())
			continue
		}
		d.done[name] = sum
		d.Log.Info("manifest applied", "file", name)
	}
	// Files gone from the folder: delete what they had put in the cluster.
	states, err := d.client.CoreV1().ConfigMaps(stateNamespace).List(ctx, metav1.ListOptions{LabelSelector: stateLabel + "=true"})
	if err != nil {
		return
	}
	for _, cm := range states.Items {
		name := cm.Data["file"]
		if present[name] || skipped(entries, name) {
			continue
		}
		if owner := cm.Data["server"]; owner != "" && owner != d.Server {
			continue // another server's file
		}
		if err := d.prune(ctx, refsOf(&cm), nil); err != nil {
			d.Log.Error("cannot delete the objects of a removed manifest", "file", name, "err", err)
			continue
		}
		if err := d.client.CoreV1().ConfigMaps(stateNamespace).Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			continue
		}
		delete(d.done, name)
		d.Log.Info("manifest removed: its objects are deleted", "file", name)
	}
}

func isManifest(name string) bool {
	for _, ext := range []string{".yaml", ".yml", ".json"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// skipped reports whether NAME.skip stands beside NAME.
func skipped(entries []os.DirEntry, name string) bool {
	return slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.Name() == name+".skip" })
}

func checksum(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// ref names one applied object.
type ref struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// StateName is the ConfigMap that records what file put in the cluster.
func StateName(file string) string {
	sum := sha256.Sum256([]byte(file))
	return "kite-manifest-" + hex.EncodeToString(sum[:6])
}

func refsOf(cm *corev1.ConfigMap) []ref {
	var refs []ref
	json.Unmarshal([]byte(cm.Data["objects"]), &refs)
	return refs
}

// apply applies every object of file, then deletes what the file held
// before and holds no more.
func (d *Deployer) apply(ctx context.Context, file string, data []byte) error {
	objs, err := Parse(file, data)
	if err != nil {
		return err
	}
	var applied []ref
	for _, obj := range objs {
		r, err := d.applyOne(ctx, obj)
		if err != nil {
			return fmt.Errorf("%s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		applied = append(applied, r)
	}
	states := d.client.CoreV1().ConfigMaps(stateNamespace)
	old, err := states.Get(ctx, StateName(file), metav1.GetOptions{})
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if exists {
		if err := d.prune(ctx, refsOf(old), applied); err != nil {
			return err
		}
	}
	list, _ := json.Marshal(applied)
	state := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: StateName(file), Namespace: stateNamespace, Labels: map[string]string{stateLabel: "true"}},
		Data:       map[string]string{"file": file, "objects": string(list)},
	}
	if d.Server != "" {
		state.Data["server"] = d.Server
	}
	if !exists {
		_, err = states.Create(ctx, state, metav1.CreateOptions{})
		return err
	}
	state.ResourceVersion = old.ResourceVersion
	_, err = states.Update(ctx, state, metav1.UpdateOptions{})
	return err
}

func (d *Deployer) applyOne(ctx context.Context, obj *unstructured.Unstructured) (ref, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := d.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// A kind new since discovery was cached (a CRD applied just now).
		d.mapper.Reset()
		mapping, err = d.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return ref{}, err
	}
	r := ref{APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Name: obj.GetName()}
	var res dynamic.ResourceInterface = d.dynamic.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		r.Namespace = obj.GetNamespace()
		if r.Namespace == "" {
			r.Namespace = metav1.NamespaceDefault
		}
		obj.SetNamespace(r.Namespace)
		res = d.dynamic.Resource(mapping.Resource).Namespace(r.Namespace)
	}
	_, err = res.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	return r, err
}

// prune deletes the objects of old that keep does not name.
func (d *Deployer) prune(ctx context.Context, old, keep []ref) error {
	for _, r := range old {
		if slices.Contains(keep, r) {
			continue
		}
		gv, err := schema.ParseGroupVersion(r.APIVersion)
		if err != nil {
			continue
		}
		mapping, err := d.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: r.Kind}, gv.Version)
		if err != nil {
			continue // its kind is gone (a CRD removed): so is the object
		}
		var res dynamic.ResourceInterface = d.dynamic.Resource(mapping.Resource)
		if r.Namespace != "" {
			res = d.dynamic.Resource(mapping.Resource).Namespace(r.Namespace)
		}
		if err := res.Delete(ctx, r.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s %s: %w", r.Kind, r.Name, err)
		}
	}
	return nil
}

// event records a Warning about file in kube-system, on its state ConfigMap.
func (d *Deployer) event(ctx context.Context, file, reason, msg string) {
	now := metav1.NewTime(time.Now())
	_, err := d.client.CoreV1().Events(stateNamespace).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: "kite-manifest-", Namespace: stateNamespace},
		InvolvedObject: corev1.ObjectReference{Kind: "ConfigMap", Namespace: stateNamespace, Name: StateName(file), APIVersion: "v1"},
		Reason:         reason,
		Message:        "manifest " + file + ": " + msg,
		Type:           corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "kite-manifests"},
		FirstTimestamp: now,
		LastTimestamp:  now,
		Count:          1,
	}, metav1.CreateOptions{})
	if err != nil && ctx.Err() == nil {
		d.Log.Warn("cannot record an Event", "err", err)
	}
}
