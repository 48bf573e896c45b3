package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kite-project/kite/pkg/config"
)

// Labels and annotation of a server's own node.
const (
	ControlPlaneLabel = "node-role.kubernetes.io/control-plane"
	EtcdLabel         = "node-role.kubernetes.io/etcd"
	// EtcdMemberAnnotation names the etcd member of the server on the
	// node: deleting the node removes that member (etcdMemberRemoval).
	EtcdMemberAnnotation = "etcd.kite.io/member-name"
)

// serverNode marks this server's own node, once it has registered: the
// control-plane role (kubectl get nodes shows the servers), and with
// embedded etcd the etcd role and the member's name. A kubelet may not set
// role labels on its own Node (NodeRestriction), so the server does.
type serverNode struct {
	Client kubernetes.Interface
	// NodeName is the node's name, known once it has joined.
	NodeName func() string
	// EtcdNameFile holds the etcd member's name; "" without etcd.
	EtcdNameFile string
	Log          *slog.Logger
}

func (s *serverNode) Name() string                  { return "server node roles" }
func (s *serverNode) Prepare(context.Context) error { return nil }
func (s *serverNode) Ready(context.Context) error   { return nil }
func (s *serverNode) StopTimeout() time.Duration    { return 5 * time.Second }

func (s *serverNode) Run(ctx context.Context) error {
	for {
		err := s.mark(ctx)
		if err == nil {
			break
		}
		s.Log.Debug("cannot mark the server's node yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	<-ctx.Done()
	return nil
}

func (s *serverNode) mark(ctx context.Context) error {
	labels := map[string]string{ControlPlaneLabel: "true"}
	annotations := map[string]string{}
	if s.EtcdNameFile != "" {
		name, err := os.ReadFile(s.EtcdNameFile)
		if err != nil {
			return err
		}
		labels[EtcdLabel] = "true"
		annotations[EtcdMemberAnnotation] = strings.TrimSpace(string(name))
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels, "annotations": annotations}})
	if err != nil {
		return err
	}
	_, err = s.Client.CoreV1().Nodes().Patch(ctx, s.NodeName(), types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// ownNodeName is the name of this server's node: --node-name (or the host
// name), with --with-node-id's suffix once the node has joined.
func ownNodeName(cfg config.Server) string {
	name := cfg.Agent.NodeName
	if cfg.Agent.WithNodeID {
		if id, err := os.ReadFile(cfg.Layout().NodeIDFile()); err == nil {
			name += "-" + strings.TrimSpace(string(id))
		}
	}
	return name
}

// manifestsOwner names this server to the manifests deployer when several
// servers may share the cluster (embedded etcd); "" for the one server.
func manifestsOwner(cfg config.Server, etcd bool) string {
	if !etcd {
		return ""
	}
	if name := ownNodeName(cfg); name != "" {
		return name
	}
	host, _ := os.Hostname()
	return strings.ToLower(host)
}

// EtcdMemberRemover removes etcd members (datastore/etcd's Etcd).
type EtcdMemberRemover interface {
	RemoveMember(ctx context.Context, name string) (bool, error)
}

// etcdMemberRemoval removes a server's etcd member when its Node is
// deleted (kubectl delete node): the way to take a server out of the
// control plane for good. Every server watches; the first removal wins,
// the others find no member.
type etcdMemberRemoval struct {
	Etcd      EtcdMemberRemover
	Informers informers.SharedInformerFactory
	Log       *slog.Logger

	deleted chan string
}

func (r *etcdMemberRemoval) Name() string { return "etcd member removal" }

func (r *etcdMemberRemoval) Prepare(context.Context) error {
	r.deleted = make(chan string, 16)
	_, err := r.Informers.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			node, ok := obj.(*corev1.Node)
			if !ok || node.Annotations[EtcdMemberAnnotation] == "" {
				return
			}
			r.deleted <- node.Annotations[EtcdMemberAnnotation]
		},
	})
	return err
}

func (r *etcdMemberRemoval) Ready(context.Context) error { return nil }

func (r *etcdMemberRemoval) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case name := <-r.deleted:
			for attempt := 0; ; attempt++ {
				removed, err := r.Etcd.RemoveMember(ctx, name)
				if err == nil {
					if removed {
						r.Log.Info("removed the etcd member of a deleted server node; that server must join again with a fresh data dir", "member", name)
					}
					break
				}
				if attempt == 5 || ctx.Err() != nil {
					r.Log.Error("cannot remove the etcd member of a deleted server node", "member", name, "err", err)
					break
				}
				time.Sleep(2 * time.Second)
			}
		}
	}
}
