package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

const scrape = `# TYPE apiserver_request_duration_seconds histogram
apiserver_request_duration_seconds_bucket{verb="POST",resource="pods",subresource="",scope="resource",le="0.1"} %d
apiserver_request_duration_seconds_bucket{verb="POST",resource="pods",subresource="",scope="resource",le="1"} %d
apiserver_request_duration_seconds_bucket{verb="POST",resource="pods",subresource="",scope="resource",le="+Inf"} %d
apiserver_request_duration_seconds_sum{verb="POST",resource="pods",subresource="",scope="resource"} 1
apiserver_request_duration_seconds_count{verb="POST",resource="pods",subresource="",scope="resource"} %d
apiserver_request_duration_seconds_bucket{verb="WATCH",resource="pods",subresource="",scope="resource",le="0.1"} 0
apiserver_request_duration_seconds_bucket{verb="WATCH",resource="pods",subresource="",scope="resource",le="1"} 0
apiserver_request_duration_seconds_bucket{verb="WATCH",resource="pods",subresource="",scope="resource",le="+Inf"} 50
apiserver_request_duration_seconds_sum{verb="WATCH",resource="pods",subresource="",scope="resource"} 1000
apiserver_request_duration_seconds_count{verb="WATCH",resource="pods",subresource="",scope="resource"} 50
`

func write(t *testing.T, name string, fast, slow, over int) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	total := fast + slow + over
	body := []byte(fmtScrape(fast, fast+slow, total, total))
	if err := os.WriteFile(f, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// The p99 counts only the calls between the scrapes, and leaves WATCH out.
func TestAPILatencyBetweenScrapes(t *testing.T) {
	// Before: 1,000 slow calls (0.1-1 s). Between: 990 fast ones and 10
	// slow ones, so the p99 falls at the top of the fast bucket.
	before := write(t, "before", 0, 1000, 0)
	after := write(t, "after", 990, 1010, 0)
	got, err := apiLatency(before, after)
	if err != nil {
		t.Fatal(err)
	}
	if got["mutating_calls"] != 1000.0 {
		t.Errorf("mutating calls %v, want 1000", got["mutating_calls"])
	}
	if p := got["mutating_p99_ms"].(float64); math.Abs(p-100) > 0.01 {
		t.Errorf("mutating p99 %v ms, want 100", p)
	}
	if got["mutating_worst"] != "POST pods" {
		t.Errorf("worst %v", got["mutating_worst"])
	}
	if _, ok := got["read_p99_ms"]; ok {
		t.Error("WATCH counted as a read")
	}
}

func TestQuantileInterpolatesAndCapsAtTheLastBound(t *testing.T) {
	h := histogram{count: 100, buckets: map[float64]float64{0.1: 50, 1: 100, math.Inf(1): 100}}
	if q := h.quantile(0.75); math.Abs(q-0.55) > 1e-9 {
		t.Errorf("p75 %v, want 0.55", q)
	}
	h = histogram{count: 100, buckets: map[float64]float64{0.1: 50, 1: 90, math.Inf(1): 100}}
	if q := h.quantile(0.99); q != 1 {
		t.Errorf("p99 beyond the last bound: %v, want 1", q)
	}
}

func fmtScrape(a, b, c, d int) string { return fmt.Sprintf(scrape, a, b, c, d) }
