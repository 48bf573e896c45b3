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
	durationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

	lockWaitSeconds = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace: "kite", Subsystem: "sqlite", Name: "write_lock_wait_seconds",
		Help:           "Time a batch of writes waited to begin its transaction (SQLite's write lock, held meanwhile by compaction or maintenance).",
		Buckets:        durationBuckets,
		StabilityLevel: metrics.ALPHA,
	})
	commitSeconds = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace: "kite", Subsystem: "sqlite", Name: "commit_seconds",
		Help:           "Time to commit a batch of writes (with synchronous=FULL, its fsync of the WAL).",
		Buckets:        durationBuckets,
		StabilityLevel: metrics.ALPHA,
	})
	batchSeconds = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace: "kite", Subsystem: "sqlite", Name: "batch_seconds",
		Help:           "Time from a batch's begin to its commit: what each write in it waits once the writer takes it.",
		Buckets:        durationBuckets,
		StabilityLevel: metrics.ALPHA,
	})
	batchWrites = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace: "kite", Subsystem: "sqlite", Name: "batch_writes",
		Help:           "Writes in one batch (one transaction).",
		Buckets:        metrics.ExponentialBuckets(1, 2, 10),
		StabilityLevel: metrics.ALPHA,
	})
	maintenanceSeconds = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Namespace: "kite", Subsystem: "sqlite", Name: "maintenance_seconds",
		Help:           "Time of one maintenance step: compact, checkpoint or shrink.",
		Buckets:        durationBuckets,
		StabilityLevel: metrics.ALPHA,
	}, []string{"step"})

	registerMetrics sync.Once
)

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
