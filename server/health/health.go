// Package health polls the health endpoints of the control plane.
package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// WaitOK polls url until it answers 200, ctx ends, or the timeout passes.
// It returns the last failure seen so a slow start can be explained.
func WaitOK(ctx context.Context, client *http.Client, url string) error {
	var last error
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if last = get(ctx, client, url); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ok: %v", url, last)
		case <-tick.C:
		}
	}
}

func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// Client returns an HTTP client for tlsConfig with a short timeout.
func Client(tlsConfig *tls.Config) *http.Client {
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsConfig, DisableKeepAlives: true},
	}
}

// LoopbackClient is for the scheduler's and controller-manager's health
// endpoints on 127.0.0.1, whose serving certificates they make themselves
// in memory at start: nothing to verify them against.
func LoopbackClient() *http.Client {
	return Client(&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // loopback, self-signed by the component itself
}
