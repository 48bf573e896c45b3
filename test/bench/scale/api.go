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

func histograms(file string) (map[seriesKey]histogram, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	out := map[seriesKey]histogram{}
	fam := families["apiserver_request_duration_seconds"]
	if fam == nil {
		return nil, fmt.Errorf("%s has no apiserver_request_duration_seconds", file)
	}
	for _, m := range fam.GetMetric() {
		resource := label(m, "resource")
		if sub := label(m, "subresource"); sub != "" {
			resource += "/" + sub
		}
		key := seriesKey{label(m, "verb"), resource, label(m, "scope")}
		h := out[key]
		if h.buckets == nil {
			h.buckets = map[float64]float64{}
		}
		hist := m.GetHistogram()
		h.count += float64(hist.GetSampleCount())
		for _, b := range hist.GetBucket() {
			h.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
		h.buckets[math.Inf(1)] += float64(hist.GetSampleCount())
		out[key] = h
	}
	return out, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
