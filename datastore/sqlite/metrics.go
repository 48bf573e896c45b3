package sqlite

import (
	"sync"
	"time"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// Where a write's time goes inside kite's backend, served with the API
// server's metrics (/metrics): the API server's own histograms stop at the
// storage call (etcd_request_duration_seconds), which at scale holds
// nearly all of a Lease renewal's tail (docs/scale.md).
var (
	lockWaitSeconds = timing("write_lock_wait_seconds", "Time a batch of writes waited to begin its transaction (SQLite's write lock, held meanwhile by compaction or maintenance).")
	commitSeconds   = timing("commit_seconds", "Time to commit a batch of writes (with synchronous=FULL, its fsync of the WAL).")
	batchSeconds    = timing("batch_seconds", "Time from a batch's begin to its commit: what each write in it waits once the writer takes it.")
	batchWrites     = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace: "kite", Subsystem: "sqlite", Name: "batch_writes",
		Help:           "Writes in one batch (one transaction).",
		Buckets:        metrics.ExponentialBuckets(1, 2, 10),
		StabilityLevel: metrics.ALPHA,
	})
	maintenanceSeconds = metrics.NewHistogramVec(timingOpts("maintenance_seconds", "Time of one maintenance step: compact, checkpoint or shrink."), []string{"step"})

	registerMetrics sync.Once
)

// timingOpts are a kite_sqlite_ duration histogram's, from 0.5 ms to 10 s.
func timingOpts(name, help string) *metrics.HistogramOpts {
	return &metrics.HistogramOpts{
		Namespace: "kite", Subsystem: "sqlite", Name: name, Help: help,
		Buckets:        []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		StabilityLevel: metrics.ALPHA,
	}
}

func timing(name, help string) *metrics.Histogram {
	return metrics.NewHistogram(timingOpts(name, help))
}

// register adds the metrics to the registry the API server serves, once
// per process (a process may open its datastore more than once).
func register() {
	registerMetrics.Do(func() {
		legacyregistry.MustRegister(lockWaitSeconds, commitSeconds, batchSeconds, batchWrites, maintenanceSeconds)
	})
}

// timed runs one maintenance step and records how long it took.
func timed(step string, f func()) {
	t0 := time.Now()
	f()
	maintenanceSeconds.WithLabelValues(step).Observe(time.Since(t0).Seconds())
}
