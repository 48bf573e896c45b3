package join

import (
	"context"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kite-project/kite/server/tokens"
)

// TokenCache keeps the bootstrap-token Secrets in memory, from a watch of
// kube-system's Secrets of that type only: a join checks a bootstrap
// token with a map lookup, never an API request, so a flood of made-up
// tokens costs the API server nothing.
//
// It is a component, started once the API server serves (the join
// handler, built before, answers bootstrap tokens with 503 until the
// cache has synced); it is ready once it has.
type TokenCache struct {
	// Client is the join path's own client.
	Client kubernetes.Interface

	store  atomic.Pointer[cache.Store] // set once synced
	synced chan struct{}
}

func (c *TokenCache) Name() string { return "bootstrap token cache" }

func (c *TokenCache) Prepare(context.Context) error {
	c.synced = make(chan struct{})
	return nil
}

func (c *TokenCache) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0,
		informers.WithNamespace(tokens.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = tokens.TypeSelector() }))
	informer := factory.Core().V1().Secrets().Informer()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return nil // stopped before the first list
	}
	store := informer.GetStore()
	c.store.Store(&store)
	close(c.synced)
	<-ctx.Done()
	return nil
}

func (c *TokenCache) Ready(ctx context.Context) error {
	select {
	case <-c.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Bootstrap returns the Secret of bootstrap token id, nil if there is
// none, errStarting before the first list.
func (c *TokenCache) Bootstrap(id string) (*corev1.Secret, error) {
	store := c.store.Load()
	if store == nil {
		return nil, errStarting
	}
	obj, ok, err := (*store).GetByKey(tokens.Namespace + "/" + tokens.SecretName(id))
	if err != nil || !ok {
		return nil, err
	}
	s, _ := obj.(*corev1.Secret)
	return s, nil
}
