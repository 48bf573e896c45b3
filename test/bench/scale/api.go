package main

import (
	"fmt"
	"math"
	"os"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// apiLatency reads apiserver_request_duration_seconds from two /metrics
// scrapes and returns, for the requests between them, the p99 (ms) of
// mutating calls, of non-LIST reads and of LISTs, each over all resources
// and the worst single resource+verb with at least 100 calls, as SIG
// Scalability's SLOs count them (WATCH and CONNECT left out).
func apiLatency(beforeFile, afterFile string) (map[string]any, error) {
	before, err := histograms(beforeFile)
	if err != nil {
		return nil, err
	}
	after, err := histograms(afterFile)
	if err != nil {
		return nil, err
	}
	classes := map[string]*histogram{}
	worst := map[string]float64{}
	worstOf := map[string]string{}
	for key, h := range after {
		d := h.minus(before[key])
		class := classOf(key.verb)
		if class == "" || d.count == 0 {
			continue
		}
		if classes[class] == nil {
			classes[class] = &histogram{buckets: map[float64]float64{}}
		}
		classes[class].add(d)
		if p := d.quantile(0.99); d.count >= 100 && p > worst[class] {
			worst[class], worstOf[class] = p, key.verb+" "+key.resource
		}
	}
	out := map[string]any{}
	if err := addBreakdown(out, beforeFile, afterFile); err != nil {
		return nil, err
	}
	for class, h := range classes {
		out[class+"_calls"] = h.count
		out[class+"_p99_ms"] = h.quantile(0.99) * 1000
		if worstOf[class] != "" {
			out[class+"_worst_p99_ms"] = worst[class] * 1000
			out[class+"_worst"] = worstOf[class]
		}
	}
	return out, nil
}

// storageSeries are the histograms that split a Lease renewal's time, the
// one call whose tail sets the steady mutating p99 at scale: the API
// server's storage call, and inside it kite's SQLite writer (absent on
// the baseline and on etcd). The p99 of each between the scrapes is added
// to the output as storage_<name>_p99_ms.
var storageSeries = []struct {
	name, family string
	labels       map[string]string
}{
	{"lease_update", "etcd_request_duration_seconds", map[string]string{"resource": "leases", "operation": "update"}},
	{"lease_get", "etcd_request_duration_seconds", map[string]string{"resource": "leases", "operation": "get"}},
	{"sqlite_lock_wait", "kite_sqlite_write_lock_wait_seconds", nil},
	{"sqlite_commit", "kite_sqlite_commit_seconds", nil},
	{"sqlite_batch", "kite_sqlite_batch_seconds", nil},
	{"sqlite_compact", "kite_sqlite_maintenance_seconds", map[string]string{"step": "compact"}},
	{"sqlite_checkpoint", "kite_sqlite_maintenance_seconds", map[string]string{"step": "checkpoint"}},
	{"sqlite_shrink", "kite_sqlite_maintenance_seconds", map[string]string{"step": "shrink"}},
}

// addBreakdown adds what splits the latencies: the storageSeries' p99s,
// and the Go runtime's figures of the scraped process (go_*).
func addBreakdown(out map[string]any, beforeFile, afterFile string) error {
	before, err := families(beforeFile)
	if err != nil {
		return err
	}
	after, err := families(afterFile)
	if err != nil {
		return err
	}
	for _, s := range storageSeries {
		d := sum(after[s.family], s.labels).minus(sum(before[s.family], s.labels))
		if d.count > 0 {
			out["storage_"+s.name+"_p99_ms"] = d.quantile(0.99) * 1000
			out["storage_"+s.name+"_calls"] = d.count
		}
	}
	// The Go runtime of the API server's process (all of kite; on the
	// baseline the API server alone): how long a runnable goroutine waited
	// for a CPU, and what the collector took, over the phase.
	if d := sum(after["go_sched_latencies_seconds"], nil).minus(sum(before["go_sched_latencies_seconds"], nil)); d.count > 0 {
		out["go_sched_latency_p99_ms"] = d.quantile(0.99) * 1000
	}
	for name, family := range map[string]string{
		"go_gc_cycles":          "go_gc_cycles_total_gc_cycles_total",
		"go_gc_cpu_seconds":     "go_cpu_classes_gc_total_cpu_seconds_total",
		"go_gc_assist_seconds":  "go_cpu_classes_gc_mark_assist_cpu_seconds_total",
		"go_user_cpu_seconds":   "go_cpu_classes_user_cpu_seconds_total",
		"go_mutex_wait_seconds": "go_sync_mutex_wait_total_seconds_total",
	} {
		if after[family] != nil {
			out[name] = counter(after[family]) - counter(before[family])
		}
	}
	return nil
}

// counter is a counter family's value, summed over its series (0 if absent).
func counter(fam *dto.MetricFamily) float64 {
	var v float64
	for _, m := range fam.GetMetric() {
		v += m.GetCounter().GetValue()
	}
	return v
}

func classOf(verb string) string {
	switch verb {
	case "POST", "PUT", "PATCH", "DELETE", "APPLY":
		return "mutating"
	case "GET":
		return "read"
	case "LIST":
		return "list"
	}
	return ""
}

type seriesKey struct{ verb, resource, scope string }

type histogram struct {
	count   float64
	buckets map[float64]float64 // upper bound → cumulative count
}

func (h *histogram) add(o histogram) {
	h.count += o.count
	for le, c := range o.buckets {
		h.buckets[le] += c
	}
}

func (h histogram) minus(o histogram) histogram {
	d := histogram{count: h.count - o.count, buckets: map[float64]float64{}}
	for le, c := range h.buckets {
		d.buckets[le] = c - o.buckets[le]
	}
	return d
}

// quantile is Prometheus's histogram_quantile: linear within the bucket.
func (h histogram) quantile(q float64) float64 {
	bounds := make([]float64, 0, len(h.buckets))
	for le := range h.buckets {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	rank := q * h.count
	lower, below := 0.0, 0.0
	for _, le := range bounds {
		c := h.buckets[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return lower // beyond the last bound: the last bound
			}
			if c == below {
				return le
			}
			return lower + (le-lower)*(rank-below)/(c-below)
		}
		lower, below = le, c
	}
	return lower
}

func families(file string) (map[string]*dto.MetricFamily, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return fams, nil
}

func histograms(file string) (map[seriesKey]histogram, error) {
	fams, err := families(file)
	if err != nil {
		return nil, err
	}
	out := map[seriesKey]histogram{}
	fam := fams["apiserver_request_duration_seconds"]
	if fam == nil {
		return nil, fmt.Errorf("%s has no apiserver_request_duration_seconds", file)
	}
	for _, m := range fam.GetMetric() {
		resource := label(m, "resource")
		if sub := label(m, "subresource"); sub != "" {
			resource += "/" + sub
		}
		key := seriesKey{label(m, "verb"), resource, label(m, "scope")}
		out[key] = out[key].plus(m.GetHistogram())
	}
	return out, nil
}

// sum adds up a family's series whose labels match (nil: all of them).
func sum(fam *dto.MetricFamily, match map[string]string) histogram {
	h := histogram{buckets: map[float64]float64{}}
	for _, m := range fam.GetMetric() {
		ok := true
		for name, value := range match {
			ok = ok && label(m, name) == value
		}
		if ok {
			h = h.plus(m.GetHistogram())
		}
	}
	return h
}

// plus is h with one more series' samples added.
func (h histogram) plus(hist *dto.Histogram) histogram {
	out := histogram{count: h.count, buckets: map[float64]float64{}}
	for le, c := range h.buckets {
		out.buckets[le] = c
	}
	out.count += float64(hist.GetSampleCount())
	for _, b := range hist.GetBucket() {
		out.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
	}
	out.buckets[math.Inf(1)] += float64(hist.GetSampleCount())
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
