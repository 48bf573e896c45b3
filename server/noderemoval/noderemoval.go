// Package noderemoval locks removed nodes out (`kite node remove NAME`).
//
// Deleting a Node is not enough to keep a node out: its kubelet's client
// certificate still authenticates it (the kubelet registers again) and
// gets it new certificates at the join endpoint. A removal is recorded, with
// its time, in ConfigMap kube-system/kite-removed-nodes; from then on
// every server refuses any certificate issued to that node before that time
// (its kubelet's and its kube-proxy's, see pki.NodeOf), on the API server's
// port, in the join endpoint and for the node's tunnel, and ends the
// requests and tunnel the node has open. Then the server deletes the Node
// and the node's password, so the node can come back only by joining with
// a valid token, as a new node.
package noderemoval

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kite-project/kite/pkg/joinapi"
	"github.com/kite-project/kite/server/pki"
)

// ConfigMap is kube-system/ConfigMap: node name → removal time (RFC 3339).
const ConfigMap = "kite-removed-nodes"

// keep is how long a removal is remembered: by then every certificate
// issued before it has expired.
const keep = pki.LeafValidity

// Registry knows the removed nodes. It is the component that watches the
// record (and acts on new removals), and the handler in front of the API
// server that refuses removed nodes' certificates.
type Registry struct {
	Client kubernetes.Interface // kite's admin client
	// PasswordSecret names a node's password Secret in kube-system.
	PasswordSecret func(node string) string
	Log            *slog.Logger

	removed atomic.Pointer[map[string]time.Time] // nil until the record is read
	synced  chan struct{}

	mu     sync.Mutex
	open   map[string]map[uint64]request // node → its requests
	nextID uint64
	acted  map[string]time.Time // removals acted on
}

func (r *Registry) Name() string { return "node removal" }

func (r *Registry) Prepare(context.Context) error {
	r.synced = make(chan struct{})
	r.open = map[string]map[uint64]request{}
	r.acted = map[string]time.Time{}
	return nil
}

// Ready waits for the first read of the record: until then no node's
// certificate is accepted.
func (r *Registry) Ready(ctx context.Context) error {
	select {
	case <-r.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run watches the record until ctx ends.
func (r *Registry) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(r.Client, 10*time.Minute,
		informers.WithNamespace(metav1.NamespaceSystem),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", ConfigMap).String()
		}))
	informer := factory.Core().V1().ConfigMaps().Informer()
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }, DeleteFunc: poke,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return nil
	}
	lister := factory.Core().V1().ConfigMaps().Lister().ConfigMaps(metav1.NamespaceSystem)
	read := func() {
		cm, err := lister.Get(ConfigMap)
		removed := map[string]time.Time{}
		if err == nil {
			removed = Parse(cm, r.Log)
		}
		r.removed.Store(&removed)
		for node, at := range removed {
			r.cut(node, at)
			r.act(ctx, node, at)
		}
	}
	read()
	close(r.synced)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			read()
		case <-time.After(time.Minute): // retries a failed clean-up
			read()
		}
	}
}

// Parse reads the record; an entry that does not parse is logged and
// skipped.
func Parse(cm *corev1.ConfigMap, log *slog.Logger) map[string]time.Time {
	removed := map[string]time.Time{}
	for node, s := range cm.Data {
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			log.Warn("ignoring a node removal whose time does not parse", "configmap", "kube-system/"+ConfigMap, "node", node, "value", s)
			continue
		}
		removed[node] = at
	}
	return removed
}

// Loaded reports whether the record has been read.
func (r *Registry) Loaded() bool { return r.removed.Load() != nil }

// Refused reports whether cert was issued to a node before its removal.
// Before the record has been read, every node's certificate is refused.
func (r *Registry) Refused(cert *x509.Certificate) bool {
	node := pki.NodeOf(cert)
	if node == "" {
		return false
	}
	removed := r.removed.Load()
	if removed == nil {
		return true
	}
	at, ok := (*removed)[node]
	return ok && !pki.IssuedAt(cert).After(at)
}

// Wrap refuses requests made with a removed node's certificate, and
// tracks the requests of nodes so a removal ends them at once. The join
// endpoints are let through: a removed node may still join with a token
// (the join handler ignores its certificate).
func (r *Registry) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 || req.URL.Path == joinapi.JoinPath || req.URL.Path == joinapi.CACertsPath {
			next.ServeHTTP(w, req)
			return
		}
		cert := req.TLS.PeerCertificates[0]
		node := pki.NodeOf(cert)
		if node == "" {
			next.ServeHTTP(w, req)
			return
		}
		if r.Refused(cert) {
			if r.removed.Load() == nil {
				w.Header().Set("Retry-After", "1")
				writeStatus(w, http.StatusServiceUnavailable, "ServiceUnavailable", "the server is starting")
				return
			}
			writeStatus(w, http.StatusUnauthorized, "Unauthorized", fmt.Sprintf("node %s was removed from the cluster; it can join again only with a token, as a new node", node))
			return
		}
		ctx, cancel := context.WithCancel(req.Context())
		defer cancel()
		id := r.track(node, request{cancel: cancel, issued: pki.IssuedAt(cert)})
		defer r.untrack(node, id)
		if req.URL.Path == joinapi.ConnectPath {
			// The tunnel is a hijacked connection, which outlives the
			// request's context: close it when the node is removed.
			w = &closeOnCancel{ResponseWriter: w, ctx: ctx}
		}
		next.ServeHTTP(w, req.WithContext(ctx))
	})
}

// request is an open request of a node.
type request struct {
	cancel context.CancelFunc
	issued time.Time // of the certificate it was made with
}

func (r *Registry) track(node string, req request) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	if r.open[node] == nil {
		r.open[node] = map[uint64]request{}
	}
	r.open[node][r.nextID] = req
	return r.nextID
}

func (r *Registry) untrack(node string, id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.open[node], id)
	if len(r.open[node]) == 0 {
		delete(r.open, node)
	}
}

// cut ends the requests of node made with a certificate issued before
// its removal at; those of a node that joined again since go on.
func (r *Registry) cut(node string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, req := range r.open[node] {
		if !req.issued.After(at) {
			req.cancel() // untrack, when the handler returns, forgets it
		}
	}
}

// act deletes the removed node's Node and password, if they are older
// than the removal (not those of a node that joined again since), once
// per removal.
func (r *Registry) act(ctx context.Context, node string, at time.Time) {
	r.mu.Lock()
	done := r.acted[node].Equal(at)
	r.mu.Unlock()
	if done {
		return
	}
	ok := true
	nodes := r.Client.CoreV1().Nodes()
	if n, err := nodes.Get(ctx, node, metav1.GetOptions{}); err == nil && !n.CreationTimestamp.After(at) {
		err = nodes.Delete(ctx, node, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &n.UID}})
		ok = ok && r.done(err, "node", node)
	} else if err != nil && !apierrors.IsNotFound(err) {
		ok = r.done(err, "node", node)
	}
	secrets := r.Client.CoreV1().Secrets(metav1.NamespaceSystem)
	name := r.PasswordSecret(node)
	if s, err := secrets.Get(ctx, name, metav1.GetOptions{}); err == nil && !s.CreationTimestamp.After(at) {
		err = secrets.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		ok = r.done(err, "node password", node) && ok
	} else if err != nil && !apierrors.IsNotFound(err) {
		ok = r.done(err, "node password", node) && ok
	}
	if ok {
		r.mu.Lock()
		r.acted[node] = at
		r.mu.Unlock()
		r.Log.Info("node removed: its certificates are refused", "node", node, "removed", at.Format(time.RFC3339))
	}
}

func (r *Registry) done(err error, what, node string) bool {
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return true
	}
	r.Log.Warn("cannot delete a removed node's "+what+"; retrying", "node", node, "err", err)
	return false
}

// Remove records node's removal at now (kite node remove). A node removed
// before is removed again, with the new time.
func Remove(ctx context.Context, client kubernetes.Interface, node string, now time.Time) error {
	cms := client.CoreV1().ConfigMaps(metav1.NamespaceSystem)
	for {
		cm, err := cms.Get(ctx, ConfigMap, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMap, Namespace: metav1.NamespaceSystem,
				Labels: map[string]string{"kite.io/managed": "true"}}}
		} else if err != nil {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[node] = now.UTC().Format(time.RFC3339)
		// Forget removals whose certificates have all expired.
		for name, s := range cm.Data {
			if at, err := time.Parse(time.RFC3339, s); err == nil && now.Sub(at) > keep {
				delete(cm.Data, name)
			}
		}
		if cm.ResourceVersion == "" {
			_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
		} else {
			_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		}
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
			continue
		}
		return err
	}
}

// writeStatus answers as the API server does, so clients show message.
func writeStatus(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: message, Reason: metav1.StatusReason(reason), Code: int32(code),
	})
}

// closeOnCancel closes a hijacked connection when ctx ends.
type closeOnCancel struct {
	http.ResponseWriter
	ctx context.Context
}

func (c *closeOnCancel) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := c.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("the connection cannot be taken over")
	}
	conn, rw, err := h.Hijack()
	if err == nil {
		context.AfterFunc(c.ctx, func() { conn.Close() })
	}
	return conn, rw, err
}
