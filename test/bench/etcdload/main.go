// Command etcdload writes to an etcd API (kine, here) the way the
// Kubernetes API server does, with no API server in front: each create is
// a transaction "if the key does not exist, put it". It measures the
// datastore alone: scripts/bench-datastore runs it against kine with the
// baseline's SQLite settings and against kite's SQLite backend.
//
//	etcdload -endpoint unix:///tmp/kine.sock -clients 16 -keys 20000
//
// It prints one JSON object: writes/s and write latency.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	endpoint := flag.String("endpoint", "", "etcd API address, e.g. unix:///run/kine.sock")
	clients := flag.Int("clients", 16, "concurrent clients")
	keys := flag.Int("keys", 20000, "keys to create in all")
	size := flag.Int("size", 512, "bytes in each value")
	flag.Parse()
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "usage: etcdload -endpoint ADDR [-clients N] [-keys N]")
		os.Exit(2)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdload:", err)
		os.Exit(1)
	}
	defer cli.Close()
	value := strings.Repeat("v", *size)
	ctx := context.Background()
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var errs int
	var firstErr error
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(*keys) {
					return
				}
				key := fmt.Sprintf("/registry/configmaps/etcdload/k-%d", i)
				t := time.Now()
				resp, err := cli.Txn(ctx).
					If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).
					Then(clientv3.OpPut(key, value)).
					Commit()
				d := time.Since(t)
				mu.Lock()
				if err == nil && !resp.Succeeded {
					err = fmt.Errorf("%s exists", key)
				}
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	res := map[string]any{
		"clients": *clients, "writes": len(lat), "errors": errs, "seconds": elapsed.Seconds(),
		"writes_per_sec": float64(len(lat)) / elapsed.Seconds(),
		"write_p50_ms":   pct(0.5), "write_p99_ms": pct(0.99),
	}
	if firstErr != nil {
		res["first_error"] = firstErr.Error()
	}
	json.NewEncoder(os.Stdout).Encode(res)
}
