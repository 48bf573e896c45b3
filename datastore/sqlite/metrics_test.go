package sqlite

import (
	"testing"
	"time"
)

// BenchmarkBatchTimings is what timing one batch adds to the writer (three
// clock reads, four observations), against the ~720 µs of CPU a write costs
// kite's process through the API server (docs/datastore.md).
func BenchmarkBatchTimings(b *testing.B) {
	register()
	for b.Loop() {
		begin := time.Now()
		lockWaitSeconds.Observe(time.Since(begin).Seconds())
		commit := time.Now()
		commitSeconds.Observe(time.Since(commit).Seconds())
		batchSeconds.Observe(time.Since(begin).Seconds())
		batchWrites.Observe(8)
	}
}
