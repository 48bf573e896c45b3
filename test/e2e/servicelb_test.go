package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const lbApp = `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: lbweb}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: kite.local/busybox:1.35
    imagePullPolicy: Never
    command: ["sh", "-c", "echo hello from the load balancer > /www/index.html; exec httpd -f -p 8080 -h /www"]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: lbweb}
  ports: [{port: 8088, targetPort: 8080}]
`

const lbClash = `apiVersion: v1
kind: Service
metadata: {name: clash, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: lbweb}
  ports: [{port: 8088, targetPort: 8080}]
`

// TestServiceLB: a LoadBalancer Service gets the node's address and answers
// there, from outside the node; a second Service on the same port waits,
// with an Event saying why, until the port is free; --disable servicelb
// takes the addresses back.
func TestServiceLB(t *testing.T) {
	dataDir := withBusybox(t, t.TempDir())
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	t.Cleanup(func() { killall(t, dataDir) })
	srv := startServer(t, dataDir, kubeconfig, "--node-name", "kite-lb")
	srv.waitReady()
	apply(t, srv, lbApp)
	ingress := func(svc string) string {
		out, _ := srv.kubectl("get", "service", svc, "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}")
		return out
	}
	eventually(t, time.Minute, "the Service's address", func() error {
		if got := ingress("web"); got != theLab.nodeIP {
			return fmt.Errorf("ingress %q, want the node's %s", got, theLab.nodeIP)
		}
		return nil
	})
	fromOutside := func() (string, error) {
		out, err := exec.Command("nsenter", "--net=/run/netns/"+theLab.router, "curl", "-s", "-m", "3", "http://"+theLab.nodeIP+":8088/").CombinedOutput()
		return string(out), err
	}
	eventually(t, time.Minute, "the Service from outside the node", func() error {
		out, err := fromOutside()
		if err == nil && strings.TrimSpace(out) != "hello from the load balancer" {
			err = fmt.Errorf("answer %q", out)
		}
		return err
	})

	t.Run("a second Service on the port waits and says why", func(t *testing.T) {
		apply(t, srv, lbClash)
		waitEvent(t, srv, "", "involvedObject.name=clash,reason=PortInUse", "8088/TCP is already used by LoadBalancer Service default/web")
		if got := ingress("clash"); got != "" {
			t.Fatalf("the clashing Service got %q", got)
		}
		srv.mustKubectl(t, "delete", "service", "web")
		eventually(t, time.Minute, "the port passes to the waiting Service", func() error {
			if got := ingress("clash"); got != theLab.nodeIP {
				return fmt.Errorf("ingress %q", got)
			}
			return nil
		})
	})

	t.Run("--disable servicelb takes the addresses back", func(t *testing.T) {
		if code := srv.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("exit code %d", code)
		}
		srv = startServer(t, dataDir, kubeconfig, "--node-name", "kite-lb", "--disable", "servicelb")
		srv.waitReady()
		eventually(t, time.Minute, "the address taken back", func() error {
			if got := ingress("clash"); got != "" {
				return fmt.Errorf("ingress %q", got)
			}
			return nil
		})
	})
}
