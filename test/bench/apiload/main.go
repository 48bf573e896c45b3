// Command apiload puts a write load on a Kubernetes API server and reports
// what a user of it would see: writes per second, write latency and how
// long a watcher waits for each write. scripts/bench-datastore runs it
// against kite and against the upstream components on the same machine;
// the e2e tests run it for load while they check durability and backups.
//
//	apiload -kubeconfig F create -clients 16 -objects 3000
//	    ConfigMaps created by 16 clients, one watcher on the namespace
//	apiload -kubeconfig F churn -clients 16 -keys 1000 -updates 1000000
//	    updates to a fixed set of ConfigMaps, plus a Lease created and
//	    deleted every -cycle-every updates (Events and Leases come and go)
//
// It prints one JSON object on stdout. With -acked FILE it appends the name
// of every ConfigMap whose create the API server acknowledged, one a line,
// as soon as it is acknowledged (a test kills the server mid-run and then
// looks for each of them).
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
	"sync/atomic"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type result struct {
	Mode         string  `json:"mode"`
	Clients      int     `json:"clients"`
	Writes       int     `json:"writes"`
	Errors       int     `json:"errors"`
	Seconds      float64 `json:"seconds"`
	WritesPerSec float64 `json:"writes_per_sec"`
	WriteP50Ms   float64 `json:"write_p50_ms"`
	WriteP99Ms   float64 `json:"write_p99_ms"`
	WatchP99Ms   float64 `json:"watch_p99_ms,omitempty"`
	WatchSeen    int     `json:"watch_seen,omitempty"`
	FirstError   string  `json:"first_error,omitempty"`
	// CPUSeconds is this program's own CPU time (user + system), so a
	// benchmark can tell the load generator's share of the machine.
	CPUSeconds float64 `json:"cpu_seconds"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "apiload:", err)
		os.Exit(1)
	}
}

func run() error {
	global := flag.NewFlagSet("apiload", flag.ExitOnError)
	kubeconfig := global.String("kubeconfig", "", "kubeconfig of the API server to load")
	namespace := global.String("namespace", "apiload", "namespace to write in (created if missing)")
	global.Parse(os.Args[1:])
	if global.NArg() == 0 || *kubeconfig == "" {
		return errors.New("usage: apiload -kubeconfig FILE create|churn [flags]")
	}
	mode, args := global.Arg(0), global.Args()[1:]
	flags := flag.NewFlagSet(mode, flag.ExitOnError)
	clients := flags.Int("clients", 16, "concurrent clients")
	objects := flags.Int("objects", 3000, "create: ConfigMaps to create in all")
	keys := flags.Int("keys", 1000, "churn: ConfigMaps updated over and over")
	updates := flags.Int("updates", 100000, "churn: updates in all")
	cycleEvery := flags.Int("cycle-every", 10, "churn: create and delete a Lease every this many updates")
	size := flags.Int("size", 256, "bytes of data in each ConfigMap")
	prefix := flags.String("prefix", "cm", "create: name prefix (several runs into one namespace)")
	acked := flags.String("acked", "", "create: append each acknowledged ConfigMap's name to this file")
	flags.Parse(args)

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit: measure the server
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: *namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	l := &load{cs: cs, ns: *namespace, data: pad(*size)}
	var res result
	switch mode {
	case "create":
		res, err = l.create(ctx, *clients, *objects, *prefix, *acked)
	case "churn":
		res, err = l.churn(ctx, *clients, *keys, *updates, *cycleEvery)
	default:
		return fmt.Errorf("unknown mode %q: create or churn", mode)
	}
	if err != nil {
		return err
	}
	res.CPUSeconds = cpuSeconds()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// cpuSeconds is the user + system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func pad(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}

type load struct {
	cs   *kubernetes.Clientset
	ns   string
	data string

	mu        sync.Mutex
	latencies []time.Duration
	errs      int
	firstErr  error
}

func (l *load) record(d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.errs++
		if l.firstErr == nil {
			l.firstErr = err
		}
		return
	}
	l.latencies = append(l.latencies, d)
}

func (l *load) configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"data": l.data}}
}

// create has clients create objects ConfigMaps between them while one
// watcher notes when it sees each; a write's watch delay runs from the
// moment its request was sent.
func (l *load) create(ctx context.Context, clients, objects int, prefix, ackedPath string) (result, error) {
	var ackFile *os.File
	if ackedPath != "" {
		f, err := os.OpenFile(ackedPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		ackFile = f
	}
	var sent sync.Map // name -> time.Time the create was sent
	list, err := l.cs.CoreV1().ConfigMaps(l.ns).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return result{}, err
	}
	w, err := l.cs.CoreV1().ConfigMaps(l.ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		return result{}, err
	}
	defer w.Stop()
	var watchDelays []time.Duration
	seen := make(chan struct{})
	var want atomic.Int64
	want.Store(int64(objects))
	go func() {
		defer close(seen)
		n := int64(0)
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added {
				continue
			}
			now := time.Now()
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok {
				continue
			}
			if t, ok := sent.Load(cm.Name); ok {
				watchDelays = append(watchDelays, now.Sub(t.(time.Time)))
				n++
				if n == want.Load() {
					return
				}
			}
		}
	}()

	var next atomic.Int64
	var ackMu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(objects) {
					return
				}
				name := prefix + "-" + strconv.FormatInt(i, 10)
				t := time.Now()
				sent.Store(name, t)
				_, err := l.cs.CoreV1().ConfigMaps(l.ns).Create(ctx, l.configMap(name), metav1.CreateOptions{})
				l.record(time.Since(t), err)
				if err != nil {
					want.Add(-1)
					continue
				}
				if ackFile != nil {
					ackMu.Lock()
					fmt.Fprintln(ackFile, name)
					ackMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := l.result("create", clients, elapsed)
	select {
	case <-seen:
	case <-time.After(30 * time.Second):
		w.Stop()
		<-seen
		return res, fmt.Errorf("the watcher saw %d of %d creates within 30 s of the last one", len(watchDelays), want.Load())
	}
	res.WatchSeen = len(watchDelays)
	res.WatchP99Ms = ms(percentile(watchDelays, 0.99))
	return res, nil
}

// churn creates keys ConfigMaps, then has clients update them (each
// client its own share, so no update conflicts), creating and deleting a
// Lease every cycleEvery updates.
func (l *load) churn(ctx context.Context, clients, keys, updates, cycleEvery int) (result, error) {
	cms := l.cs.CoreV1().ConfigMaps(l.ns)
	current := make([]*corev1.ConfigMap, keys)
	for i := range current {
		name := "churn-" + strconv.Itoa(i)
		cm, err := cms.Create(ctx, l.configMap(name), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			cm, err = cms.Get(ctx, name, metav1.GetOptions{})
		}
		if err != nil {
			return result{}, err
		}
		current[i] = cm
	}
	var done atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				op := done.Add(1)
				if op > int64(updates) {
					return
				}
				// Client c owns keys c, c+clients, c+2*clients, …
				owned := (keys - c + clients - 1) / clients
				i := c + (n%owned)*clients
				cm := current[i].DeepCopy()
				cm.Data["n"] = strconv.FormatInt(op, 10)
				t := time.Now()
				got, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
				l.record(time.Since(t), err)
				if err == nil {
					current[i] = got
				}
				if cycleEvery > 0 && op%int64(cycleEvery) == 0 {
					l.leaseCycle(ctx, "cycle-"+strconv.FormatInt(op, 10))
				}
			}
		}()
	}
	wg.Wait()
	return l.result("churn", clients, time.Since(start)), nil
}

func (l *load) leaseCycle(ctx context.Context, name string) {
	leases := l.cs.CoordinationV1().Leases(l.ns)
	holder := "apiload"
	t := time.Now()
	_, err := leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}, metav1.CreateOptions{})
	l.record(time.Since(t), err)
	t = time.Now()
	err = leases.Delete(ctx, name, metav1.DeleteOptions{})
	l.record(time.Since(t), err)
}

func (l *load) result(mode string, clients int, elapsed time.Duration) result {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := result{
		Mode:         mode,
		Clients:      clients,
		Writes:       len(l.latencies),
		Errors:       l.errs,
		Seconds:      elapsed.Seconds(),
		WritesPerSec: float64(len(l.latencies)) / elapsed.Seconds(),
		WriteP50Ms:   ms(percentile(l.latencies, 0.50)),
		WriteP99Ms:   ms(percentile(l.latencies, 0.99)),
	}
	if l.firstErr != nil {
		r.FirstError = l.firstErr.Error()
	}
	return r
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(p*float64(len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
