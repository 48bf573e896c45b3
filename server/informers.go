package server

import (
	"context"
	"fmt"

	"k8s.io/client-go/informers"
)

// sharedInformers is the one owner of the informer factory that kite's own
// controllers in this process share (node set-up and the tunnel, ServiceLB,
// local storage, NodeHosts). Each registers its informers in Prepare, which
// the component runner calls for every component before any runs; this
// component, placed after the API server and before those controllers,
// starts them all once and is ready once all have synced, so each
// controller runs on full caches.
type sharedInformers struct {
	factory informers.SharedInformerFactory
}

func (s sharedInformers) Name() string                  { return "shared informers" }
func (s sharedInformers) Prepare(context.Context) error { return nil }

func (s sharedInformers) Run(ctx context.Context) error {
	s.factory.Start(ctx.Done())
	<-ctx.Done()
	s.factory.Shutdown()
	return nil
}

func (s sharedInformers) Ready(ctx context.Context) error {
	for typ, ok := range s.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("the informer of %v did not sync", typ)
		}
	}
	return nil
}
