// Package servicelb gives LoadBalancer Services an address, as K3s's
// ServiceLB does, without a pod: a controller in the kite server process
// writes the addresses of the nodes that can serve a Service into its
// status.loadBalancer.ingress, and kube-proxy on every node then answers
// on those addresses and ports (its load-balancer rules send the traffic to
// the Service's endpoints, on any node, over the pod network).
//
// A port can be taken once per protocol: a Service asking for a port an
// older LoadBalancer Service holds stays Pending, with an Event saying why.
// Nodes labelled svccontroller.kite.io/enablelb=true, if there are any, are
// the only ones used; otherwise every Ready node is.
package servicelb

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/kite-project/kite/server/trigger"
)

// EnableLabel restricts the nodes used when some node carries it.
const EnableLabel = "svccontroller.kite.io/enablelb"

// Controller is the component.
type Controller struct {
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory
	Log       *slog.Logger
	// Remove undoes the load balancer (--disable servicelb): the addresses
	// it gave are taken back, once, and nothing more is done.
	Remove bool

	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	changed  trigger.Trigger
	pending  map[string]string // Service -> why it waits, as last reported
}

func (c *Controller) Name() string { return "service load balancer" }

func (c *Controller) Prepare(context.Context) error {
	c.changed = trigger.New()
	c.pending = map[string]string{}
	svc := c.Informers.Core().V1().Services()
	node := c.Informers.Core().V1().Nodes()
	if _, err := svc.Informer().AddEventHandler(c.changed.On()); err != nil {
		return err
	}
	// What Addresses reads of a node: its label, readiness and addresses.
	usedOf := func(n *corev1.Node) string {
		return fmt.Sprint(n.Labels[EnableLabel], ready(n), n.Status.Addresses)
	}
	if _, err := node.Informer().AddEventHandler(trigger.OnChangeOf(c.changed, usedOf)); err != nil {
		return err
	}
	c.services, c.nodes = svc.Lister(), node.Lister()
	return nil
}

func (c *Controller) Ready(context.Context) error { return nil }

// Run starts once the server's shared informers have synced.
func (c *Controller) Run(ctx context.Context) error {
	if c.Remove {
		c.remove(ctx)
		<-ctx.Done()
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.changed:
		case <-time.After(5 * time.Minute): // and now and then regardless
		}
		c.sync(ctx)
		// Changes come in bursts (a node's status, many Services):
		// handle each burst once.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sync gives every LoadBalancer Service its addresses, or Pending.
func (c *Controller) sync(ctx context.Context) {
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		return
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	ingress := Addresses(nodes)
	for _, a := range Assign(svcs) {
		want := []corev1.LoadBalancerIngress{}
		if a.ConflictWith == "" {
			for _, ip := range ingress {
				want = append(want, corev1.LoadBalancerIngress{IP: ip, IPMode: ptr(corev1.LoadBalancerIPModeVIP)})
			}
		}
		c.report(ctx, a)
		if equalIngress(a.Service.Status.LoadBalancer.Ingress, want) {
			continue
		}
		svc := a.Service.DeepCopy()
		svc.Status.LoadBalancer.Ingress = want
		if _, err := c.Client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
			c.Log.Warn("cannot set a LoadBalancer Service's addresses", "service", key(svc), "err", err)
		}
	}
}

// remove takes back the node addresses given to LoadBalancer Services.
func (c *Controller) remove(ctx context.Context) {
	svcs, _ := c.services.List(labels.Everything())
	nodes, _ := c.nodes.List(labels.Everything())
	var nodeIPs []string
	for _, n := range nodes {
		for _, a := range n.Status.Addresses {
			nodeIPs = append(nodeIPs, a.Address)
		}
	}
	for _, a := range Assign(svcs) {
		ing := a.Service.Status.LoadBalancer.Ingress
		if len(ing) == 0 || slices.ContainsFunc(ing, func(i corev1.LoadBalancerIngress) bool { return !slices.Contains(nodeIPs, i.IP) }) {
			continue // not ours: some address is not a node's
		}
		svc := a.Service.DeepCopy()
		svc.Status.LoadBalancer.Ingress = nil
		if _, err := c.Client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
			c.Log.Warn("cannot take back a LoadBalancer Service's addresses", "service", key(svc), "err", err)
			continue
		}
		c.Log.Info("servicelb is disabled: took back a LoadBalancer Service's addresses", "service", key(svc))
	}
}

// report records an Event when a Service starts or stops waiting.
func (c *Controller) report(ctx context.Context, a Assignment) {
	k := key(a.Service)
	why := ""
	if a.ConflictWith != "" {
		why = fmt.Sprintf("port %s is already used by LoadBalancer Service %s; change this Service's port, or delete that one", a.Port, a.ConflictWith)
	}
	if c.pending[k] == why {
		return
	}
	c.pending[k] = why
	if why == "" {
		return
	}
	c.Log.Warn("LoadBalancer Service pending", "service", k, "reason", why)
	now := metav1.NewTime(time.Now())
	_, err := c.Client.CoreV1().Events(a.Service.Namespace).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: a.Service.Name + "-", Namespace: a.Service.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Service", APIVersion: "v1", Namespace: a.Service.Namespace, Name: a.Service.Name, UID: a.Service.UID},
		Reason:         "PortInUse",
		Message:        why,
		Type:           corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "kite-servicelb"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}, metav1.CreateOptions{})
	if err != nil && ctx.Err() == nil {
		c.Log.Warn("cannot record an Event", "err", err)
	}
}

// Assignment is one LoadBalancer Service's fate.
type Assignment struct {
	Service      *corev1.Service
	ConflictWith string // the older Service holding one of its ports
	Port         string // that port, as 8080/TCP
}

// Assign decides, for every LoadBalancer Service this controller serves
// (no spec.loadBalancerClass), whether its ports are free: the older
// Service keeps a port (creation time, then name).
func Assign(svcs []*corev1.Service) []Assignment {
	var lbs []*corev1.Service
	for _, s := range svcs {
		if s.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.LoadBalancerClass == nil {
			lbs = append(lbs, s)
		}
	}
	sort.Slice(lbs, func(i, j int) bool {
		a, b := lbs[i].CreationTimestamp, lbs[j].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		return key(lbs[i]) < key(lbs[j])
	})
	taken := map[string]string{} // port -> Service
	var out []Assignment
	for _, s := range lbs {
		a := Assignment{Service: s}
		for _, p := range s.Spec.Ports {
			port := fmt.Sprintf("%d/%s", p.Port, p.Protocol)
			if owner, ok := taken[port]; ok {
				a.ConflictWith, a.Port = owner, port
				break
			}
		}
		if a.ConflictWith == "" {
			for _, p := range s.Spec.Ports {
				taken[fmt.Sprintf("%d/%s", p.Port, p.Protocol)] = key(s)
			}
		}
		out = append(out, a)
	}
	return out
}

// Addresses are the IPs of the nodes that serve LoadBalancer Services:
// Ready nodes (only those labelled EnableLabel=true if any is), each by its
// ExternalIP, else its InternalIP; sorted.
func Addresses(nodes []*corev1.Node) []string {
	labelled := slices.ContainsFunc(nodes, func(n *corev1.Node) bool { return n.Labels[EnableLabel] == "true" })
	var ips []string
	for _, n := range nodes {
		if labelled && n.Labels[EnableLabel] != "true" || !ready(n) {
			continue
		}
		if ip := address(n, corev1.NodeExternalIP); ip != "" {
			ips = append(ips, ip)
		} else if ip := address(n, corev1.NodeInternalIP); ip != "" {
			ips = append(ips, ip)
		}
	}
	sort.Strings(ips)
	return ips
}

func ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func address(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return ""
}

func equalIngress(a, b []corev1.LoadBalancerIngress) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].IP != b[i].IP || a[i].Hostname != b[i].Hostname {
			return false
		}
	}
	return true
}

func key(s *corev1.Service) string { return s.Namespace + "/" + s.Name }

func ptr[T any](v T) *T { return &v }
