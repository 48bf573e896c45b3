package localstorage

import (
	"context"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	rbacv1apply "k8s.io/client-go/applyconfigurations/rbac/v1"

	"github.com/kite-project/kite/pkg/localpath"
)

// A node may delete only its own local volumes (agent/localstorage deletes
// them once released): the nodes' common ClusterRole (server/join) lets
// them read volumes, never delete them. For each node with local-path
// volumes, the controller keeps a ClusterRole RolePrefix+<node> that allows
// deleting exactly those volumes, by name, and a ClusterRoleBinding of the
// same name to the node's user system:node:<node>. Both go when the node
// has no local volume left. So `kubectl auth can-i` answers for a node's
// credentials as the authorizer decides: yes for its own volumes, no for
// any other.
const (
	// RolePrefix + node name is the ClusterRole and ClusterRoleBinding.
	RolePrefix = "kite:node-volumes:"
	// RoleLabel marks them (value "true"; a node name may be longer than
	// a label value can be, so the node is in the name only).
	RoleLabel = "kite.io/node-volumes"

	rolesFieldManager = "kite-localstorage"
)

// NodeOf returns the node a local volume belongs to: ok only for a hostPath
// volume annotated as provisioned by localpath.Provisioner and pinned to
// one node exactly as Volume pins it (one node selector term, one
// requirement: kubernetes.io/hostname In [node]), node being a valid node
// name. Anything else belongs to no node.
func NodeOf(pv *corev1.PersistentVolume) (node string, ok bool) {
	if pv.Annotations[localpath.ProvisionedBy] != localpath.Provisioner || pv.Spec.HostPath == nil {
		return "", false
	}
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil || len(na.Required.NodeSelectorTerms) != 1 {
		return "", false
	}
	term := na.Required.NodeSelectorTerms[0]
	if len(term.MatchExpressions) != 1 || len(term.MatchFields) != 0 {
		return "", false
	}
	e := term.MatchExpressions[0]
	if e.Key != corev1.LabelHostname || e.Operator != corev1.NodeSelectorOpIn || len(e.Values) != 1 {
		return "", false
	}
	if len(validation.IsDNS1123Subdomain(e.Values[0])) != 0 {
		return "", false
	}
	return e.Values[0], true
}

// Grants returns, for each node with local volumes, their names, sorted.
// No node has an empty list: a role rule with no names would allow all.
func Grants(pvs []*corev1.PersistentVolume) map[string][]string {
	grants := map[string][]string{}
	for _, pv := range pvs {
		if node, ok := NodeOf(pv); ok {
			grants[node] = append(grants[node], pv.Name)
		}
	}
	for _, names := range grants {
		slices.Sort(names)
	}
	return grants
}

// grant brings the nodes' roles and bindings to what pvs call for. It
// writes only a node whose volumes changed since it last wrote it; a node
// whose write failed is written again on the next call.
func (c *Controller) grant(ctx context.Context, pvs []*corev1.PersistentVolume) {
	if c.granted == nil && !c.loadGrants(ctx) {
		return
	}
	want := Grants(pvs)
	for node, names := range want {
		if slices.Equal(c.granted[node], names) {
			continue
		}
		if err := c.applyGrant(ctx, node, names); err != nil {
			c.granted[node] = nil // unknown: written again next time
			if ctx.Err() == nil {
				c.Log.Warn("cannot grant a node the deletion of its local volumes", "node", node, "role", RolePrefix+node, "err", err)
			}
			continue
		}
		c.granted[node] = names
		c.Log.Info("node may delete its local volumes", "node", node, "role", RolePrefix+node, "volumes", len(names))
	}
	for node := range c.granted {
		if _, ok := want[node]; ok {
			continue
		}
		if err := c.revokeGrant(ctx, node); err != nil {
			if ctx.Err() == nil {
				c.Log.Warn("cannot remove a node's local volumes role", "node", node, "role", RolePrefix+node, "err", err)
			}
			continue
		}
		delete(c.granted, node)
	}
}

// loadGrants learns which nodes have a role or binding already (from before
// a restart): each is written again, or removed, by grant.
func (c *Controller) loadGrants(ctx context.Context) bool {
	opts := metav1.ListOptions{LabelSelector: RoleLabel}
	roles, err := c.Client.RbacV1().ClusterRoles().List(ctx, opts)
	if err != nil {
		if ctx.Err() == nil {
			c.Log.Warn("cannot list the nodes' local volumes roles", "err", err)
		}
		return false
	}
	bindings, err := c.Client.RbacV1().ClusterRoleBindings().List(ctx, opts)
	if err != nil {
		if ctx.Err() == nil {
			c.Log.Warn("cannot list the nodes' local volumes role bindings", "err", err)
		}
		return false
	}
	granted := map[string][]string{}
	for _, r := range roles.Items {
		if node, ok := strings.CutPrefix(r.Name, RolePrefix); ok {
			granted[node] = nil
		}
	}
	for _, b := range bindings.Items {
		if node, ok := strings.CutPrefix(b.Name, RolePrefix); ok {
			granted[node] = nil
		}
	}
	c.granted = granted
	return true
}

func roleLabels() map[string]string {
	return map[string]string{"kite.io/managed": "true", RoleLabel: "true"}
}

// applyGrant writes node's role, naming exactly names (never empty), then
// its binding.
func (c *Controller) applyGrant(ctx context.Context, node string, names []string) error {
	name := RolePrefix + node
	role := rbacv1apply.ClusterRole(name).WithLabels(roleLabels()).WithRules(
		rbacv1apply.PolicyRule().WithAPIGroups("").WithResources("persistentvolumes").WithVerbs("delete").WithResourceNames(names...))
	opts := metav1.ApplyOptions{FieldManager: rolesFieldManager, Force: true}
	if _, err := c.Client.RbacV1().ClusterRoles().Apply(ctx, role, opts); err != nil {
		return err
	}
	binding := rbacv1apply.ClusterRoleBinding(name).WithLabels(roleLabels()).
		WithRoleRef(rbacv1apply.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("ClusterRole").WithName(name)).
		WithSubjects(rbacv1apply.Subject().WithAPIGroup(rbacv1.GroupName).WithKind(rbacv1.UserKind).WithName("system:node:" + node))
	_, err := c.Client.RbacV1().ClusterRoleBindings().Apply(ctx, binding, opts)
	return err
}

// revokeGrant removes node's binding, then its role.
func (c *Controller) revokeGrant(ctx context.Context, node string) error {
	name := RolePrefix + node
	if err := c.Client.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := c.Client.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	c.Log.Info("node has no local volume left: its volumes role removed", "node", node)
	return nil
}
