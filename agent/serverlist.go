package agent

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kite-project/kite/agent/loadbalancer"
	"github.com/kite-project/kite/pkg/kubeclient"
)

// serverList keeps the load balancer's list of API servers current: the
// endpoints of the `kubernetes` Service, plus the --server the node joined
// (it may be the only address of a server behind NAT that works).
type serverList struct {
	Kubeconfig string
	LB         *loadbalancer.LoadBalancer
	Pinned     string // host:port
	Log        *slog.Logger
}

func (s *serverList) Name() string                  { return "API server list" }
func (s *serverList) Prepare(context.Context) error { return nil }
func (s *serverList) Ready(context.Context) error   { return nil }

func (s *serverList) Run(ctx context.Context) error {
	cs, err := kubeclient.FromFile(s.Kubeconfig)
	if err != nil {
		return err
	}
	for {
		slices, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"})
		if err == nil {
			servers := []string{s.Pinned}
			for _, sl := range slices.Items {
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
			s.LB.SetServers(servers)
		} else if ctx.Err() == nil {
			s.Log.Warn("cannot list the API servers; keeping the known ones", "err", err)
		}
		if !waitOrDone(ctx, 30*time.Second) {
			return nil
		}
	}
}
