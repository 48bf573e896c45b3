// Command joinflood sends made-up join requests to a kite server, as a
// hostile client on the network could: each carries a token shaped like a
// bootstrap token with a random ID and secret. It reports what the
// flooder saw, so a benchmark or a test can tell the server stayed cheap
// to refuse (scripts/bench-joinflood, test/e2e/joinflood_test.go).
//
//	joinflood -server https://HOST:6443 -insecure -rate 500 -duration 60s
//	    500 requests a second, whatever the answers take (open loop)
//	joinflood -server https://HOST:6443 -insecure -concurrency 500 -duration 60s
//	    500 clients, each sending its next request once it has an answer
//
// With -src ADDR -src-count N it spreads its requests over N source
// addresses from ADDR up (they must be on a local interface), round robin.
// Each request opens its own TLS connection unless -keepalive is given.
//
// It prints one JSON object on stdout: requests by answer ("401", "429",
// "error", …), per-second rate, answer latency percentiles.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kite-project/kite/pkg/joinapi"
)

type result struct {
	Requests    int            `json:"requests"`
	ByAnswer    map[string]int `json:"by_answer"`
	Skipped     int            `json:"skipped,omitempty"` // -rate: not sent, -max-inflight reached
	Seconds     float64        `json:"seconds"`
	PerSec      float64        `json:"per_sec"`
	P50Ms       float64        `json:"p50_ms"`
	P90Ms       float64        `json:"p90_ms"`
	P99Ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	FirstError  string         `json:"first_error,omitempty"`
	Sources     int            `json:"sources"`
	CPUSeconds  float64        `json:"cpu_seconds"`
	Mode        string         `json:"mode"`
	Rate        int            `json:"rate,omitempty"`
	Concurrency int            `json:"concurrency,omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "joinflood:", err)
		os.Exit(1)
	}
}

func run() error {
	server := flag.String("server", "", "the kite server, https://HOST:6443")
	rate := flag.Int("rate", 0, "requests a second (open loop)")
	concurrency := flag.Int("concurrency", 0, "clients sending back to back (closed loop); instead of -rate")
	duration := flag.Duration("duration", 30*time.Second, "how long to send")
	maxInflight := flag.Int("max-inflight", 5000, "-rate: requests at once at most; more are skipped and counted")
	timeout := flag.Duration("timeout", 10*time.Second, "one request's time limit")
	insecure := flag.Bool("insecure", false, "do not verify the server's certificate")
	caFile := flag.String("cacert", "", "verify the server's certificate against this CA file")
	src := flag.String("src", "", "first source address (default: the system's choice)")
	srcCount := flag.Int("src-count", 1, "number of consecutive source addresses from -src")
	keepalive := flag.Bool("keepalive", false, "reuse connections (default: a new TLS connection a request)")
	flag.Parse()
	if *server == "" || (*rate <= 0) == (*concurrency <= 0) {
		return errors.New("usage: joinflood -server https://HOST:6443 (-rate N | -concurrency N) [-duration D] [-insecure | -cacert FILE] [-src ADDR [-src-count N]]")
	}
	tlsConfig := &tls.Config{InsecureSkipVerify: *insecure}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		tlsConfig.RootCAs = x509.NewCertPool()
		if !tlsConfig.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s has no PEM certificate", *caFile)
		}
	} else if !*insecure {
		return errors.New("give -insecure or -cacert")
	}
	clients, err := makeClients(*src, *srcCount, tlsConfig, *timeout, *keepalive)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	f := &flood{url: strings.TrimSuffix(*server, "/") + joinapi.JoinPath, clients: clients, byAnswer: map[string]int{}}
	start := time.Now()
	var wg sync.WaitGroup
	res := result{Sources: len(clients)}
	if *concurrency > 0 {
		res.Mode, res.Concurrency = "concurrency", *concurrency
		for i := 0; i < *concurrency; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					f.send(ctx)
				}
			}()
		}
	} else {
		res.Mode, res.Rate = "rate", *rate
		var inflight atomic.Int64
		tick := time.NewTicker(time.Second / time.Duration(*rate))
		defer tick.Stop()
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case <-tick.C:
			}
			if inflight.Load() >= int64(*maxInflight) {
				res.Skipped++
				continue
			}
			inflight.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer inflight.Add(-1)
				f.send(ctx)
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)

	f.mu.Lock()
	defer f.mu.Unlock()
	res.ByAnswer, res.FirstError = f.byAnswer, f.firstError
	for _, n := range f.byAnswer {
		res.Requests += n
	}
	res.Seconds = round(elapsed.Seconds())
	res.PerSec = round(float64(res.Requests) / elapsed.Seconds())
	sort.Slice(f.latencies, func(i, j int) bool { return f.latencies[i] < f.latencies[j] })
	res.P50Ms, res.P90Ms, res.P99Ms = percentile(f.latencies, 50), percentile(f.latencies, 90), percentile(f.latencies, 99)
	if n := len(f.latencies); n > 0 {
		res.MaxMs = ms(f.latencies[n-1])
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.CPUSeconds = round(time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds())
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// makeClients returns one HTTP client per source address.
func makeClients(src string, count int, tlsConfig *tls.Config, timeout time.Duration, keepalive bool) ([]*http.Client, error) {
	var addrs []net.IP
	if src == "" {
		addrs = []net.IP{nil}
	} else {
		first := net.ParseIP(src).To4()
		if first == nil {
			return nil, fmt.Errorf("-src %q is not an IPv4 address", src)
		}
		for i := 0; i < max(count, 1); i++ {
			ip := make(net.IP, 4)
			n := uint32(first[0])<<24 | uint32(first[1])<<16 | uint32(first[2])<<8 | uint32(first[3])
			n += uint32(i)
			ip[0], ip[1], ip[2], ip[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
			addrs = append(addrs, ip)
		}
	}
	var clients []*http.Client
	for _, ip := range addrs {
		dialer := &net.Dialer{Timeout: timeout}
		if ip != nil {
			dialer.LocalAddr = &net.TCPAddr{IP: ip}
		}
		clients = append(clients, &http.Client{Timeout: timeout, Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			TLSClientConfig:     tlsConfig,
			DisableKeepAlives:   !keepalive,
			MaxIdleConnsPerHost: 100,
		}})
	}
	return clients, nil
}

type flood struct {
	url     string
	clients []*http.Client
	next    atomic.Uint64

	mu         sync.Mutex
	byAnswer   map[string]int
	latencies  []time.Duration
	firstError string
}

// send makes one bogus join request and counts its answer. A request cut
// short by the end of the run is not counted.
func (f *flood) send(ctx context.Context) {
	client := f.clients[f.next.Add(1)%uint64(len(f.clients))]
	id, secret := randomToken()
	body, _ := json.Marshal(joinapi.Request{NodeName: "flood-" + id, NodeIPs: []string{"198.18.1.250"},
		NodePassword: secret + secret, CSRs: map[string]string{joinapi.KubeletClient: "-", joinapi.KubeletServing: "-", joinapi.KubeProxy: "-"}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, strings.NewReader(string(body)))
	if err != nil {
		f.count("error", 0, err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+id+"."+secret)
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			f.count("error", time.Since(t0), err)
		}
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	f.count(strconv.Itoa(resp.StatusCode), time.Since(t0), nil)
}

func (f *flood) count(answer string, took time.Duration, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byAnswer[answer]++
	if took > 0 {
		f.latencies = append(f.latencies, took)
	}
	if err != nil && f.firstError == "" {
		f.firstError = err.Error()
	}
}

// randomToken returns a bootstrap-token-shaped ID (6) and secret (16).
func randomToken() (string, string) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 22)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:6]), string(b[6:])
}

func percentile(sorted []time.Duration, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return ms(sorted[min(len(sorted)*p/100, len(sorted)-1)])
}

func ms(d time.Duration) float64 { return round(float64(d) / float64(time.Millisecond)) }

func round(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
