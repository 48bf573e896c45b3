package agent

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kite-project/kite/agent/loadbalancer"
	"github.com/kite-project/kite/pkg/kubeclient"
)

// serverList keeps the load balancer's list of API servers current: the
// endpoints of the `kubernetes` Service, plus the --server the node joined
// (it may be the only address of a server behind NAT that works). It
// watches them, so a server that joins is known at once: if the one the
// node uses dies a moment later, the node moves to the new one.
type serverList struct {
	Kubeconfig string
	LB         *loadbalancer.LoadBalancer
	Pinned     string // host:port
	Log        *slog.Logger
}

func (s *serverList) Name() string                  { return "API server list" }
func (s *serverList) Prepare(context.Context) error { return nil }
func (s *serverList) Ready(context.Context) error   { return nil }

var kubernetesService = metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"}

func (s *serverList) Run(ctx context.Context) error {
	cs, err := kubeclient.FromFile(s.Kubeconfig)
	if err != nil {
		return err
	}
	for {
		listed := time.Now()
		slices, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, kubernetesService)
		if err == nil {
			s.LB.SetServers(s.servers(slices.Items))
			// Any change: list again (a handful of slices).
			opts := kubernetesService
			opts.ResourceVersion = slices.ResourceVersion
			opts.TimeoutSeconds = ptr.To(int64(300))
			w, werr := cs.DiscoveryV1().EndpointSlices("default").Watch(ctx, opts)
			if werr != nil {
				err = werr // back off as for a failed list
			} else {
				select {
				case <-w.ResultChan():
				case <-ctx.Done():
				}
				w.Stop()
			}
		} else if ctx.Err() == nil {
			s.Log.Warn("cannot list the API servers; keeping the known ones", "err", err)
		}
		// At most one list a second, and every 5 s while they fail.
		pause := time.Second - time.Since(listed)
		if err != nil {
			pause = 5 * time.Second
		}
		if !waitOrDone(ctx, pause) {
			return nil
		}
	}
}

// servers are the pinned server and the slices' addresses.
func (s *serverList) servers(slices []discoveryv1.EndpointSlice) []string {
	servers := []string{s.Pinned}
	for _, sl := range slices {
		port := 6443
		for _, p := range sl.Ports {
			if p.Port != nil && p.Name != nil && *p.Name == "https" {
				port = int(*p.Port)
			}
		}
		for _, ep := range sl.Endpoints {
			for _, a := range ep.Addresses {
				servers = append(servers, net.JoinHostPort(a, strconv.Itoa(port)))
			}
		}
	}
	return servers
}
