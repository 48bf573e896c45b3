package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const metricsPod = `apiVersion: v1
kind: Pod
metadata: {name: busy, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: kite.local/busybox:1.35, imagePullPolicy: Never, command: [sleep, "3600"]}
`

// TestMetrics: `kubectl top nodes` and `top pods` answer, from the
// metrics-server in the kite server process; --disable metrics-server
// takes the metrics API away.
func TestMetrics(t *testing.T) {
	dataDir := withBusybox(t, t.TempDir())
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	t.Cleanup(func() { killall(t, dataDir) })
	srv := startServer(t, dataDir, kubeconfig, "--node-name", "kite-top", "--disable", "coredns")
	srv.waitReady()
	apply(t, srv, metricsPod)
	eventually(t, 2*time.Minute, "kubectl top nodes", func() error {
		out, err := srv.kubectl("top", "nodes", "--no-headers")
		if err == nil && !strings.HasPrefix(out, "kite-top ") {
			err = fmt.Errorf("top nodes: %q", out)
		}
		return err
	})
	eventually(t, 2*time.Minute, "kubectl top pods", func() error {
		out, err := srv.kubectl("top", "pods", "--no-headers")
		if err == nil && !strings.HasPrefix(out, "busy ") {
			err = fmt.Errorf("top pods: %q", out)
		}
		return err
	})
	if out := srv.mustKubectl(t, "get", "apiservice", "v1beta1.metrics.k8s.io", "-o", `jsonpath={.status.conditions[?(@.type=="Available")].status}`); out != "True" {
		t.Fatalf("the metrics APIService is not Available: %q", out)
	}

	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("kite server exited %d", code)
	}
	srv = startServer(t, dataDir, kubeconfig, "--node-name", "kite-top", "--disable", "coredns", "--disable", "metrics-server")
	srv.waitReady()
	eventually(t, time.Minute, "the metrics API removed", func() error {
		out, err := srv.kubectl("get", "apiservice", "-o", "name")
		if err == nil && strings.Contains(out, "metrics.k8s.io") {
			err = fmt.Errorf("still there:\n%s", out)
		}
		return err
	})
	if _, err := srv.kubectl("top", "nodes"); err == nil || !strings.Contains(err.Error(), "Metrics API not available") {
		t.Fatalf("kubectl top with metrics-server disabled: %v", err)
	}
}
