package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// checkLostLeases: on an elected control plane (embedded etcd), another
// holder takes the scheduler's and the controller manager's leases for
// longer than their renew deadline, as a server whose disk stalls past a
// renewal sees it. Each loses its lease and starts again in the process:
// the server stays up, both win their leases back once the intruder's
// expire, and a new Deployment's pod is made, placed and run.
func checkLostLeases(t *testing.T, srv *server) {
	t.Helper()
	const intruder = "e2e-intruder"
	leases := []string{"kube-scheduler", "kube-controller-manager"}
	for _, name := range leases {
		now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
		// 15 s: past the 10 s renew deadline, so the lease is lost.
		patch := fmt.Sprintf(`{"spec":{"holderIdentity":%q,"acquireTime":%q,"renewTime":%q,"leaseDurationSeconds":15}}`, intruder, now, now)
		srv.mustKubectl(t, "-n", "kube-system", "patch", "lease", name, "--type", "merge", "-p", patch)
	}
	eventually(t, 2*time.Minute, "the leases lost, and won back by kite", func() error {
		select {
		case <-srv.exited:
			t.Fatalf("kite server exited after losing a lease (%v):\n%s", srv.exitErr, tail(srv.stderr.String(), 4000))
		default:
		}
		for _, name := range leases {
			if !strings.Contains(srv.stderr.String(), name+" starts again") {
				return fmt.Errorf("%s has not said it starts again", name)
			}
			holder, err := srv.kubectl("-n", "kube-system", "get", "lease", name, "-o", "jsonpath={.spec.holderIdentity}")
			if err != nil {
				return err
			}
			if holder == "" || holder == intruder {
				return fmt.Errorf("lease %s held by %q", name, holder)
			}
		}
		return nil
	})
	if out := srv.mustKubectl(t, "get", "--raw", "/readyz"); out != "ok" {
		t.Errorf("/readyz after the leases were lost: %q", out)
	}
	// A one-pod Deployment: the controller manager makes its pod, the
	// scheduler places it.
	srv.mustKubectl(t, "create", "deployment", "after-leases", "--image", "kite.local/busybox:1.35", "--", "sleep", "3600")
	eventually(t, 2*time.Minute, "the Deployment's pod Running", func() error {
		out, err := srv.kubectl("get", "pods", "-l", "app=after-leases", "-o", "jsonpath={.items[*].status.phase}")
		if err == nil && out != "Running" {
			err = fmt.Errorf("phases %q", out)
		}
		return err
	})
	srv.mustKubectl(t, "delete", "deployment", "after-leases", "--wait=false")
}
