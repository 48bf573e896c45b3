package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const claimAndWriter = `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
---
` + storagePod

const storagePod = `apiVersion: v1
kind: Pod
metadata: {name: %[1]s, namespace: default}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: kite.local/busybox:1.35
    imagePullPolicy: Never
    command: ["sh", "-c", %[2]q]
    volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
`

// TestLocalStorage: the default StorageClass local-path gives a claim a
// folder under <data-dir>/storage on the pod's node once the pod is
// scheduled; what one pod writes, the next reads; deleting the claim
// removes the folder; a node's credentials may delete its own local
// volumes and no other node's; --disable local-storage removes the
// StorageClass.
func TestLocalStorage(t *testing.T) {
	dataDir := withBusybox(t, t.TempDir())
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	t.Cleanup(func() { killall(t, dataDir) })
	srv := startServer(t, dataDir, kubeconfig, "--node-name", "kite-ls")
	srv.waitReady()
	eventually(t, time.Minute, "the default StorageClass", func() error {
		out, err := srv.kubectl("get", "storageclass", "local-path", "-o", `jsonpath={.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}`)
		if err == nil && out != "true" {
			err = fmt.Errorf("default-class annotation %q", out)
		}
		return err
	})
	phase := func(pod string) func() error {
		return func() error {
			out, err := srv.kubectl("get", "pod", pod, "-o", "jsonpath={.status.phase}")
			if err == nil && out != "Succeeded" {
				err = fmt.Errorf("phase %q", out)
			}
			return err
		}
	}
	apply(t, srv, fmt.Sprintf(claimAndWriter, "writer", "echo kept > /data/file"))
	eventually(t, 2*time.Minute, "the writer done", phase("writer"))
	path := srv.mustKubectl(t, "get", "pv", "-o", "jsonpath={.items[0].spec.hostPath.path}")
	if filepath.Dir(path) != filepath.Join(dataDir, "storage") {
		t.Fatalf("volume at %q, want a folder in %s", path, filepath.Join(dataDir, "storage"))
	}
	if data, err := os.ReadFile(filepath.Join(path, "file")); err != nil || string(data) != "kept\n" {
		t.Fatalf("the written file on the node: %q %v", data, err)
	}
	t.Run("a node deletes only its own volumes", func(t *testing.T) { nodeDeletesOnlyItsVolumes(t, srv, dataDir) })
	srv.mustKubectl(t, "delete", "pod", "writer")
	apply(t, srv, fmt.Sprintf(storagePod, "reader", "cat /data/file"))
	eventually(t, 2*time.Minute, "the reader done", phase("reader"))
	if out := srv.mustKubectl(t, "logs", "reader"); strings.TrimSpace(out) != "kept" {
		t.Fatalf("the reader read %q", out)
	}

	srv.mustKubectl(t, "delete", "pod", "reader")
	srv.mustKubectl(t, "delete", "pvc", "data")
	eventually(t, 2*time.Minute, "the folder and the volume removed", func() error {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			return fmt.Errorf("%s still there", path)
		}
		if out, _ := srv.kubectl("get", "pv", "-o", "name"); strings.TrimSpace(out) != "" {
			return fmt.Errorf("volumes left: %s", out)
		}
		return nil
	})

	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	srv = startServer(t, dataDir, kubeconfig, "--node-name", "kite-ls", "--disable", "local-storage")
	srv.waitReady()
	eventually(t, time.Minute, "the StorageClass removed", func() error {
		if out, err := srv.kubectl("get", "storageclass", "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
			return fmt.Errorf("%v %q", err, out)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(dataDir, "server", "manifests", "local-storage.yaml")); !os.IsNotExist(err) {
		t.Fatal("the disabled add-on's manifest is still in the manifests folder")
	}
}

// otherNodesVolume is a local-path volume as the server provisions them,
// pinned to a node that is not the test's.
const otherNodesVolume = `apiVersion: v1
kind: PersistentVolume
metadata:
  name: e2e-other-node
  annotations: {pv.kubernetes.io/provisioned-by: rancher.io/local-path}
spec:
  capacity: {storage: 64Mi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: local-path
  hostPath: {path: /var/lib/kite/storage/e2e-other-node, type: DirectoryOrCreate}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [other-node]}]
`

// nodeDeletesOnlyItsVolumes: with the node's own credentials (the
// kubelet's kubeconfig), the authorizer lets the node delete its own local
// volume (the one of claim data) and not another node's (issue 20).
func nodeDeletesOnlyItsVolumes(t *testing.T, srv *server, dataDir string) {
	asNode := func(args ...string) (string, error) {
		return srv.kubectl(append([]string{"--kubeconfig", filepath.Join(dataDir, "agent", "etc", "kubelet.kubeconfig")}, args...)...)
	}
	canI := func(want string, args ...string) func() error {
		return func() error {
			out, err := asNode(append([]string{"auth", "can-i"}, args...)...)
			// "yes", or "no" with the authorizer's reason after it.
			got := strings.TrimSpace(out)
			if answer, _, _ := strings.Cut(got, " "); answer != want {
				return fmt.Errorf("can-i %v: %q, want %q (%v)", args, got, want, err)
			}
			return nil
		}
	}
	own := srv.mustKubectl(t, "get", "pvc", "data", "-o", "jsonpath={.spec.volumeName}")
	eventually(t, time.Minute, "the node may delete its own volume", canI("yes", "delete", "persistentvolume/"+own))
	if err := canI("no", "delete", "persistentvolumes")(); err != nil {
		t.Errorf("any volume: %v", err)
	}

	t.Cleanup(func() { srv.kubectl("delete", "pv", "e2e-other-node", "--ignore-not-found") })
	apply(t, srv, otherNodesVolume)
	// The server grants the other node its volume: the node's "no" below is
	// the authorizer's answer, not a role not yet written.
	eventually(t, time.Minute, "the other node's role", func() error {
		out, err := srv.kubectl("get", "clusterrole", "kite:node-volumes:other-node", "-o", "jsonpath={.rules[0].resourceNames}")
		if err == nil && !strings.Contains(out, "e2e-other-node") {
			err = fmt.Errorf("names %q", out)
		}
		return err
	})
	if err := canI("no", "delete", "persistentvolume/e2e-other-node")(); err != nil {
		t.Error(err)
	}
	if out, err := asNode("delete", "pv", "e2e-other-node", "--wait=false"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("the node deleting another node's volume: %q %v", out, err)
	}
	if out, err := srv.kubectl("get", "pv", "e2e-other-node", "-o", "name"); err != nil || strings.TrimSpace(out) != "persistentvolume/e2e-other-node" {
		t.Errorf("the other node's volume after the node's delete: %q %v", out, err)
	}
	if err := canI("yes", "delete", "persistentvolume/"+own)(); err != nil {
		t.Error(err)
	}

	srv.mustKubectl(t, "delete", "pv", "e2e-other-node")
	eventually(t, time.Minute, "the other node's role removed with its last volume", func() error {
		out, err := srv.kubectl("get", "clusterrole,clusterrolebinding", "-l", "kite.io/node-volumes", "-o", "name")
		if err == nil && strings.Contains(out, "other-node") {
			err = fmt.Errorf("left: %s", out)
		}
		return err
	})
}
