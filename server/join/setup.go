package join

import (
	"context"
	"log/slog"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
)

// NodeRole is the ClusterRole kite gives every node (group system:nodes)
// on top of what the Node authorizer allows: flannel watches all Nodes,
// the node's load balancer reads the API servers' endpoints, and the
// node's local storage watches the volumes (it may delete only its own,
// by a role per node: server/localstorage). Patching
// a Node stays limited to the node's own, by the Node authorizer and the
// NodeRestriction admission plugin.
const NodeRole = "kite:node"

// Tunnels is what Setup gives the server's shared informers to.
type Tunnels interface {
	Watch(factory informers.SharedInformerFactory)
}

// Setup is the component that prepares the cluster for nodes: the RBAC of
// NodeRole, and the tunnel's view of the Nodes. It is ready once the RBAC
// is in place, before any node joins.
type Setup struct {
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory // the server's, shared
	Tunnel    Tunnels
	Log       *slog.Logger

	done chan struct{}
}

func (s *Setup) Name() string { return "node set-up" }

func (s *Setup) Prepare(context.Context) error {
	s.done = make(chan struct{})
	s.Tunnel.Watch(s.Informers)
	return nil
}

func (s *Setup) Run(ctx context.Context) error {
	for {
		err := s.ensureRBAC(ctx)
		if err == nil {
			break
		}
		s.Log.Warn("cannot set up the nodes' RBAC yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	close(s.done)
	<-ctx.Done()
	return nil
}

func (s *Setup) Ready(ctx context.Context) error {
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Setup) ensureRBAC(ctx context.Context) error {
	meta := metav1.ObjectMeta{Name: NodeRole, Labels: map[string]string{"kite.io/managed": "true"}}
	role := &rbacv1.ClusterRole{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
		// agent/localstorage watches for the node's released local volumes;
		// it may delete only its own, each by name, through the ClusterRole
		// server/localstorage keeps for the node (never delete here: issue 20).
		{APIGroups: []string{""}, Resources: []string{"persistentvolumes"}, Verbs: []string{"get", "list", "watch"}},
	}}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: meta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: NodeRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:nodes"}},
	}
	roles := s.Client.RbacV1().ClusterRoles()
	if cur, err := roles.Get(ctx, NodeRole, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := roles.Create(ctx, role, metav1.CreateOptions{}); err != nil {
			return err
		}
	} else if err != nil {
		return err
	} else {
		cur.Rules = role.Rules
		if _, err := roles.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	bindings := s.Client.RbacV1().ClusterRoleBindings()
	if _, err := bindings.Get(ctx, NodeRole, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		_, err = bindings.Create(ctx, binding, metav1.CreateOptions{})
		return err
	} else {
		return err
	}
}
