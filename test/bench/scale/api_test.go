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

const storageScrape = `# TYPE etcd_request_duration_seconds histogram
etcd_request_duration_seconds_bucket{operation="update",resource="leases",le="0.01"} %d
etcd_request_duration_seconds_bucket{operation="update",resource="leases",le="0.1"} %d
etcd_request_duration_seconds_bucket{operation="update",resource="leases",le="+Inf"} %d
etcd_request_duration_seconds_sum{operation="update",resource="leases"} 1
etcd_request_duration_seconds_count{operation="update",resource="leases"} %d
etcd_request_duration_seconds_bucket{operation="update",resource="pods",le="0.01"} 0
etcd_request_duration_seconds_bucket{operation="update",resource="pods",le="0.1"} 0
etcd_request_duration_seconds_bucket{operation="update",resource="pods",le="+Inf"} 500
etcd_request_duration_seconds_sum{operation="update",resource="pods"} 1000
etcd_request_duration_seconds_count{operation="update",resource="pods"} 500
`

// The storage figures count one resource's calls between the scrapes; a
// family the server does not serve (kite_sqlite_* on etcd) is left out.
func TestStorageLatencyOfLeaseUpdates(t *testing.T) {
	dir := t.TempDir()
	before, after := filepath.Join(dir, "before"), filepath.Join(dir, "after")
	// Between: 100 updates, 98 under 10 ms and 2 in 10-100 ms.
	os.WriteFile(before, []byte(scrapeOf(0, 0, 0)+fmt.Sprintf(storageScrape, 0, 100, 100, 100)), 0o600)
	os.WriteFile(after, []byte(scrapeOf(0, 0, 0)+fmt.Sprintf(storageScrape, 98, 200, 200, 200)), 0o600)
	got, err := apiLatency(before, after)
	if err != nil {
		t.Fatal(err)
	}
	if got["storage_lease_update_calls"] != 100.0 {
		t.Errorf("lease updates %v, want 100", got["storage_lease_update_calls"])
	}
	if p := got["storage_lease_update_p99_ms"].(float64); math.Abs(p-55) > 0.01 {
		t.Errorf("lease update p99 %v ms, want 55 (halfway into 10-100 ms)", p)
	}
	if _, ok := got["storage_sqlite_commit_p99_ms"]; ok {
		t.Error("a family missing from the scrapes has a p99")
	}
}

func scrapeOf(fast, slow, over int) string {
	total := fast + slow + over
	return fmtScrape(fast, fast+slow, total, total)
}
