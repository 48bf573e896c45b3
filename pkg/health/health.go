// Package health polls the health endpoints of the control plane.
package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
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

// WaitSelfSigned waits for /healthz of a component serving on port with a
// certificate it made itself in memory at start (the scheduler, the
// controller-manager): there is nothing to verify it against, and it is
// reached on this host only. Port 0 means the component does not serve.
func WaitSelfSigned(ctx context.Context, bind net.IP, port int) error {
	if port == 0 {
		return nil
	}
	host := "127.0.0.1"
	if bind != nil && !bind.IsUnspecified() {
		host = bind.String()
	}
	client := Client(&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // see above
	return WaitOK(ctx, client, "https://"+net.JoinHostPort(host, strconv.Itoa(port))+"/healthz")
}
