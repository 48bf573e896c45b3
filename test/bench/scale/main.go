// Command scale drives scripts/bench-scale: it registers simulated nodes
// (kwok runs them: sigs.k8s.io/kwok, built by the script), runs pods on
// them, measures what SIG Scalability's SLOs name, and removes it all.
//
//	scale -kubeconfig F nodes -count N
//	    N simulated nodes (kwok-0 … kwok-N-1; the missing ones created), all Ready
//	scale -kubeconfig F pods -nodes N -per-node P
//	    a Deployment of P pods for each of N nodes, in namespaces of 100
//	    nodes' Deployments (the missing ones created), all Ready: pods/s
//	scale -kubeconfig F latency -pods 100 -rate 10
//	    pods created one by one at a steady rate: created → Running as
//	    observed through a watch, p50/p99 (the pod start-up SLO)
//	scale -kubeconfig F api -before F1 -after F2
//	    the API server's request latency between two /metrics scrapes
//	scale -kubeconfig F clean
//	    removes the namespaces and the nodes; waits until they are gone
//
// Each prints one JSON object on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"
)

const (
	// namespace holds the latency pods.
	namespace = "scale"
	// kwok manages the nodes with this annotation (--manage-nodes-with-
	// annotation-selector); the taint keeps other pods off them.
	kwokKey = "kwok.x-k8s.io/node"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func run() error {
	global := flag.NewFlagSet("scale", flag.ExitOnError)
	kubeconfig := global.String("kubeconfig", "", "kubeconfig of the cluster")
	timeout := global.Duration("timeout", 30*time.Minute, "give up after this long")
	global.Parse(os.Args[1:])
	if global.NArg() == 0 || *kubeconfig == "" {
		return errors.New("usage: scale -kubeconfig FILE nodes|pods|latency|api|clean [flags]")
	}
	mode, args := global.Arg(0), global.Args()[1:]
	flags := flag.NewFlagSet(mode, flag.ExitOnError)
	count := flags.Int("count", 100, "nodes: simulated nodes in all")
	nodes := flags.Int("nodes", 100, "pods: nodes to load")
	perNode := flags.Int("per-node", 30, "pods: pods a node (one Deployment each)")
	pods := flags.Int("pods", 100, "latency: pods to start")
	rate := flags.Float64("rate", 10, "latency: pods created a second")
	before := flags.String("before", "", "api: /metrics scraped before")
	after := flags.String("after", "", "api: /metrics scraped after")
	flags.Parse(args)

	if mode == "api" {
		return printJSON(apiLatency(*before, *after))
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = -1, 0 // no client-side limit: a kubelet per node would not share one
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	s := &scale{cs: cs}
	switch mode {
	case "nodes":
		return printJSON(s.nodes(ctx, *count))
	case "pods":
		return printJSON(s.pods(ctx, *nodes, *perNode))
	case "latency":
		return printJSON(s.latency(ctx, *pods, *rate))
	case "clean":
		return printJSON(s.clean(ctx))
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func printJSON(v any, err error) error {
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(v)
}

type scale struct{ cs *kubernetes.Clientset }

func nodeName(i int) string { return "kwok-" + strconv.Itoa(i) }

// nodes creates the simulated nodes kwok-0 … kwok-count-1 that are missing
// (32 at once) and waits until all are Ready.
func (s *scale) nodes(ctx context.Context, count int) (map[string]any, error) {
	start := time.Now()
	existing, err := s.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, n := range existing.Items {
		have[n.Name] = true
	}
	var missing []string
	for i := range count {
		if !have[nodeName(i)] {
			missing = append(missing, nodeName(i))
		}
	}
	if err := parallel(ctx, missing, 32, func(name string) error {
		_, err := s.cs.CoreV1().Nodes().Create(ctx, simulatedNode(name), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}); err != nil {
		return nil, err
	}
	for {
		ready, _, err := s.countNodes(ctx)
		if err != nil {
			return nil, err
		}
		if ready >= count {
			return map[string]any{"nodes": count, "created": len(missing), "ready_seconds": time.Since(start).Seconds()}, nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, fmt.Errorf("%d of %d nodes Ready: %w", ready, count, err)
		}
	}
}

func simulatedNode(name string) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{kwokKey: "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/role": "agent"},
		},
		Spec:   corev1.NodeSpec{Taints: []corev1.Taint{{Key: kwokKey, Value: "fake", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}

// onSimulatedNodes places a pod on kwok's nodes only.
func onSimulatedNodes(spec *corev1.PodSpec) {
	spec.NodeSelector = map[string]string{"type": "kwok"}
	spec.Tolerations = []corev1.Toleration{{Key: kwokKey, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	spec.Containers = []corev1.Container{{Name: "app", Image: "kite.local/none:1"}}
	spec.TerminationGracePeriodSeconds = ptr.To(int64(0))
}

// pods makes the load of SIG Scalability's load test: for each of the
// first nodes simulated nodes one Deployment of perNode pods (load-I), in
// namespaces of nodesPerNamespace nodes' Deployments (load-N: 3,000 pods
// at 30 a node), the missing ones created; then waits until all pods are
// Ready. pods/s counts the pods added. (One Deployment of 30,000 pods
// instead would measure how the ReplicaSet controller's and the
// scheduler's spreading work grow with one ReplicaSet: no workload looks
// like that.)
func (s *scale) pods(ctx context.Context, nodes, perNode int) (map[string]any, error) {
	start := time.Now()
	from, _, have, err := s.loadReady(ctx)
	if err != nil {
		return nil, err
	}
	var spaces, deployments []string
	for i := range nodes {
		if i%nodesPerNamespace == 0 {
			spaces = append(spaces, loadNamespace(i))
		}
		if !have["load-"+strconv.Itoa(i)] {
			deployments = append(deployments, strconv.Itoa(i))
		}
	}
	for _, ns := range spaces {
		if err := s.namespace(ctx, ns, map[string]string{loadLabel: "true"}); err != nil {
			return nil, err
		}
	}
	if err := parallel(ctx, deployments, 16, func(i string) error {
		n, _ := strconv.Atoi(i)
		_, err := s.cs.AppsV1().Deployments(loadNamespace(n)).Create(ctx, loadDeployment("load-"+i, int32(perNode)), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}); err != nil {
		return nil, err
	}
	want := nodes * perNode
	for {
		ready, all, _, err := s.loadReady(ctx)
		if err != nil {
			return nil, err
		}
		// A node that went NotReady (its Lease not renewed in time) has
		// its pods marked not Ready, and kwok does not mark them Ready
		// again: the step has failed, and waiting would never end.
		if _, notReady, err := s.countNodes(ctx); err != nil || notReady > 0 {
			if err == nil {
				err = fmt.Errorf("%d simulated nodes went NotReady while the pods were placed (their Leases were not renewed within 40 s)", notReady)
			}
			return nil, err
		}
		if ready == want && all {
			took := time.Since(start).Seconds()
			return map[string]any{"pods": want, "added": want - from, "running_seconds": took,
				"pods_per_second": float64(want-from) / took}, nil
		}
		if err := sleep(ctx, 2*time.Second); err != nil {
			return nil, fmt.Errorf("%d of %d pods Ready: %w", ready, want, err)
		}
	}
}

// countNodes counts the simulated nodes whose Ready condition is True and
// those whose is not (from the API server's cache).
func (s *scale) countNodes(ctx context.Context) (ready, notReady int, err error) {
	list, err := s.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok", ResourceVersion: "0"})
	if err != nil {
		return 0, 0, err
	}
	for _, node := range list.Items {
		if isReady(&node) {
			ready++
		} else {
			notReady++
		}
	}
	return ready, notReady, nil
}

func isReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodesPerNamespace is the load test's NODES_PER_NAMESPACE.
const nodesPerNamespace = 100

// loadLabel marks the load's namespaces and Deployments.
const loadLabel = "kite.io/scale-load"

func loadNamespace(node int) string { return "load-" + strconv.Itoa(node/nodesPerNamespace) }

func loadDeployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{loadLabel: "true"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}},
		},
	}
	onSimulatedNodes(&d.Spec.Template.Spec)
	return d
}

// loadReady sums the Ready pods of the load's Deployments (from the API
// server's cache), says whether every Deployment has seen its spec, and
// names them.
func (s *scale) loadReady(ctx context.Context) (ready int, all bool, names map[string]bool, err error) {
	list, err := s.cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: loadLabel, ResourceVersion: "0"})
	if err != nil {
		return 0, false, nil, err
	}
	all, names = true, map[string]bool{}
	for _, d := range list.Items {
		ready += int(d.Status.ReadyReplicas)
		all = all && d.Status.ObservedGeneration == d.Generation
		names[d.Name] = true
	}
	return ready, all, names, nil
}

// latency creates pods one by one at rate a second and times each from its
// creation to its Running phase as a watch sees it, then deletes them.
func (s *scale) latency(ctx context.Context, n int, rate float64) (map[string]any, error) {
	if err := s.namespace(ctx, namespace, nil); err != nil {
		return nil, err
	}
	podsAPI := s.cs.CoreV1().Pods(namespace)
	selector := metav1.ListOptions{LabelSelector: "app=latency"}
	list, err := podsAPI.List(ctx, selector)
	if err != nil {
		return nil, err
	}
	// A RetryWatcher: the API server may end a watch at any time (CI saw
	// one end before the first pod ran); it resumes from the last event.
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector.LabelSelector
			return podsAPI.Watch(ctx, o)
		}})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var mu sync.Mutex
	sent := map[string]time.Time{} // just before each create: an upper bound
	var took []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		running := map[string]bool{}
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted || pod.Status.Phase != corev1.PodRunning || running[pod.Name] {
				continue
			}
			running[pod.Name] = true
			mu.Lock()
			at, ok := sent[pod.Name]
			if !ok {
				at = pod.CreationTimestamp.Time // whole seconds
			}
			took = append(took, time.Since(at))
			if len(took) == n {
				mu.Unlock()
				return
			}
			mu.Unlock()
		}
	}()
	every := time.Duration(float64(time.Second) / rate)
	for i := range n {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "latency-" + strconv.Itoa(i), Labels: map[string]string{"app": "latency"}}}
		onSimulatedNodes(&pod.Spec)
		mu.Lock()
		sent[pod.Name] = time.Now()
		mu.Unlock()
		if _, err := podsAPI.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		if err := sleep(ctx, every); err != nil {
			return nil, err
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	seen := len(took) // all n only once the watching goroutine is done with took
	mu.Unlock()
	if seen < n {
		why := "the watch of them ended"
		if ctx.Err() != nil {
			why = ctx.Err().Error()
		}
		return nil, fmt.Errorf("%d of %d latency pods seen Running: %s", seen, n, why)
	}
	if err := podsAPI.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}, metav1.ListOptions{LabelSelector: "app=latency"}); err != nil {
		return nil, err
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	return map[string]any{"pods": n, "rate": rate,
		"startup_p50_ms": ms(took[len(took)/2]), "startup_p99_ms": ms(took[(len(took)*99-1)/100])}, nil
}

// clean deletes the namespaces (the latency pods' and the load's) and
// the simulated nodes, and waits until they are gone.
func (s *scale) clean(ctx context.Context) (map[string]any, error) {
	start := time.Now()
	spaces, err := s.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: loadLabel})
	if err != nil {
		return nil, err
	}
	names := []string{namespace}
	for _, ns := range spaces.Items {
		names = append(names, ns.Name)
	}
	for _, name := range names {
		err := s.cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	// One by one: a DeleteCollection of 1,000 nodes outlasts the API
	// server's request timeout.
	nodes, err := s.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok", ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	var nodeNames []string
	for _, n := range nodes.Items {
		nodeNames = append(nodeNames, n.Name)
	}
	if err := parallel(ctx, nodeNames, 16, func(name string) error {
		err := s.cs.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}); err != nil {
		return nil, err
	}
	for {
		left := 0
		for _, name := range names {
			if _, err := s.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				left++
			}
		}
		nodes, err := s.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
		if err != nil {
			return nil, err
		}
		if left == 0 && len(nodes.Items) == 0 {
			return map[string]any{"clean_seconds": time.Since(start).Seconds()}, nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, fmt.Errorf("%d namespaces and %d nodes left: %w", left, len(nodes.Items), err)
		}
	}
}

// namespace creates a namespace (with labels) if it is missing and waits
// for its default ServiceAccount, which the ServiceAccount admission needs.
func (s *scale) namespace(ctx context.Context, name string, labels map[string]string) error {
	_, err := s.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	for {
		if _, err := s.cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("no ServiceAccount %s/default: %w", name, err)
		}
	}
}

// parallel runs do for each item, at most n at once; the first error wins.
func parallel(ctx context.Context, items []string, n int, do func(string) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	slots := make(chan struct{}, n)
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := do(it); err != nil {
				once.Do(func() { first = fmt.Errorf("%s: %w", it, err) })
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
