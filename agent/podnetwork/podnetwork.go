// Package podnetwork waits for the controller-manager to give the node its
// PodCIDR, then writes the CNI configuration that containerd uses to give
// pods addresses from it.
package podnetwork

import (
	"context"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kite-project/kite/agent/cni"
	"github.com/kite-project/kite/pkg/kubeclient"
)

// PodNetwork is the component. It is ready at once: the kubelet, started
// next, registers the Node whose PodCIDR this waits for.
type PodNetwork struct {
	Kubeconfig string
	NodeName   string
	ConfDir    string
	IPAMDir    string
	Log        *slog.Logger
}

func (p *PodNetwork) Name() string                  { return "pod network" }
func (p *PodNetwork) Prepare(context.Context) error { return nil }
func (p *PodNetwork) Ready(context.Context) error   { return nil }

func (p *PodNetwork) Run(ctx context.Context) error {
	cs, err := kubeclient.FromFile(p.Kubeconfig)
	if err != nil {
		return err
	}
	for {
		node, err := cs.CoreV1().Nodes().Get(ctx, p.NodeName, metav1.GetOptions{})
		if err == nil && node.Spec.PodCIDR != "" {
			if err := (cni.Network{PodCIDR: node.Spec.PodCIDR, IPAMDir: p.IPAMDir}).Write(p.ConfDir); err != nil {
				return err
			}
			p.Log.Info("pod network configured", "podCIDR", node.Spec.PodCIDR)
			<-ctx.Done()
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}
