package e2e

import (
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: e2e}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1 # httpd as PID 1 ignores SIGTERM
      containers:
      - name: web
        image: kite.local/busybox:1.35
        imagePullPolicy: Never
        command: ["sh", "-c", "echo web-started; exec httpd -f -p 8080 -h /www"]
        ports: [{containerPort: 8080}]
`

const memoryHog = `apiVersion: v1
kind: Pod
metadata: {name: hog, namespace: e2e}
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: kite.local/busybox:1.35
    imagePullPolicy: Never
    command: ["tail", "/dev/zero"]
    resources: {limits: {memory: 32Mi}}
`

// TestNode: kite server runs the node too. Images come from the airgap
// folder; pods run, are reachable through Services, are limited in memory;
// a restart of kite adopts them; killall cleans everything up.
func TestNode(t *testing.T) {
	dataDir := t.TempDir()
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	imagesDir := filepath.Join(dataDir, "agent", "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, busyboxTar, filepath.Join(imagesDir, "busybox.tar"))
	badTar := filepath.Join(imagesDir, "not-an-image.tar")
	if err := os.WriteFile(badTar, []byte("this is not a tarball\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killall(t, dataDir) })

	// Without CoreDNS: the test counts every pod address and link.
	srv := startServer(t, dataDir, kubeconfig, "--node-name", "kite-e2e", "--node-label", "kite.test/role=e2e", "--disable", "coredns")
	srv.waitReady()

	if out := srv.mustKubectl(t, "get", "node", "kite-e2e", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.metadata.labels.kite\.test/role} {.spec.podCIDR}`); !strings.HasPrefix(out, "True e2e 10.42.") {
		t.Fatalf("node: %q, want Ready, labelled, with a PodCIDR from 10.42.0.0/16", out)
	}
	if log := srv.stderr.String(); !strings.Contains(log, badTar) || !strings.Contains(log, "could not be imported") {
		t.Errorf("the bad image tarball was not reported by name")
	}
	if out, err := srv.kite("crictl", "images"); err != nil || !strings.Contains(out, "kite.local/busybox") || !strings.Contains(out, "kite.local/pause") {
		t.Fatalf("kite crictl images: %v\n%s", err, out)
	}
	if out, err := srv.kite("ctr", "images", "ls", "-q"); err != nil || !strings.Contains(out, "kite.local/busybox:1.35") {
		t.Fatalf("kite ctr images ls: %v\n%s", err, out)
	}

	srv.mustKubectl(t, "create", "namespace", "e2e")
	apply(t, srv, webDeployment)
	waitPodsReady(t, srv, "app=web", 3)
	pod := strings.TrimPrefix(strings.TrimSpace(strings.Split(srv.mustKubectl(t, "-n", "e2e", "get", "pods", "-l", "app=web", "-o", "name"), "\n")[0]), "pod/")

	t.Run("each pod has its own shim, containerd's program from kite's bundle", func(t *testing.T) {
		bundled, _ := filepath.Glob(filepath.Join(dataDir, "data", "*", "bin", "containerd-shim-runc-v2"))
		if len(bundled) != 1 {
			t.Fatalf("bundled shims: %v", bundled)
		}
		shims := shimProcesses(t, dataDir)
		pods := strings.Fields(srv.mustKubectl(t, "get", "pods", "-A", "--field-selector", "spec.nodeName=kite-e2e,status.phase=Running", "-o", "name"))
		if len(shims) != len(pods) {
			t.Fatalf("%d shims for %d running pods", len(shims), len(pods))
		}
		for pid, exe := range shims {
			if exe != bundled[0] {
				t.Errorf("shim %d runs %s, not %s", pid, exe, bundled[0])
			}
		}
	})

	t.Run("logs", func(t *testing.T) {
		if out := srv.mustKubectl(t, "-n", "e2e", "logs", pod); !strings.Contains(out, "web-started") {
			t.Fatalf("logs: %q", out)
		}
	})
	t.Run("exec", func(t *testing.T) {
		if out := srv.mustKubectl(t, "-n", "e2e", "exec", pod, "--", "cat", "/www/index.html"); strings.TrimSpace(out) != "hello from kite" {
			t.Fatalf("exec: %q", out)
		}
	})
	t.Run("port-forward", func(t *testing.T) {
		pf := theLab.command(kiteBin, "kubectl", "-n", "e2e", "port-forward", "pod/"+pod, "18080:8080")
		pf.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
		pf.Stdout, pf.Stderr = io.Discard, io.Discard
		if err := pf.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { pf.Process.Kill(); pf.Wait() }()
		eventually(t, time.Minute, "HTTP through port-forward", func() error {
			return httpGet("127.0.0.1:18080")
		})
	})
	t.Run("ClusterIP service from another pod", func(t *testing.T) {
		srv.mustKubectl(t, "-n", "e2e", "expose", "deployment", "web", "--port", "80", "--target-port", "8080")
		ip := srv.mustKubectl(t, "-n", "e2e", "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
		eventually(t, time.Minute, "web service from pod "+pod, func() error {
			out, err := srv.kubectl("-n", "e2e", "exec", pod, "--", "sh", "-c",
				fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 %s 80`, ip))
			if err == nil && !strings.Contains(out, "hello from kite") {
				err = fmt.Errorf("answer %q", out)
			}
			return err
		})
	})
	t.Run("NodePort service from the node", func(t *testing.T) {
		srv.mustKubectl(t, "-n", "e2e", "expose", "deployment", "web", "--name", "web-np", "--type", "NodePort", "--port", "80", "--target-port", "8080")
		port := srv.mustKubectl(t, "-n", "e2e", "get", "service", "web-np", "-o", "jsonpath={.spec.ports[0].nodePort}")
		eventually(t, time.Minute, "NodePort "+port, func() error {
			return httpGet(labNodeIP + ":" + port)
		})
	})
	t.Run("memory limit", func(t *testing.T) {
		apply(t, srv, memoryHog)
		eventually(t, 2*time.Minute, "hog OOMKilled", func() error {
			out, err := srv.kubectl("-n", "e2e", "get", "pod", "hog", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.reason}")
			if err == nil && out != "OOMKilled" {
				err = fmt.Errorf("terminated reason %q", out)
			}
			return err
		})
		srv.mustKubectl(t, "-n", "e2e", "delete", "pod", "hog", "--wait")
	})

	// A restart of kite adopts the running pods: no container is replaced,
	// and each keeps its shim process.
	before := containers(t, srv)
	shimsBefore := shimProcesses(t, dataDir)
	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if out, _ := exec.Command("pgrep", "-f", "httpd -f -p 8080").Output(); len(strings.Fields(string(out))) < 3 {
		t.Fatalf("pods did not outlive kite: %q", out)
	}
	// A node program deleted by hand is put back at the next start.
	runcs, _ := filepath.Glob(filepath.Join(dataDir, "data", "*", "bin", "runc"))
	if len(runcs) != 1 {
		t.Fatalf("runc not unpacked where documented: %v", runcs)
	}
	if err := os.Remove(runcs[0]); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	srv = startServer(t, dataDir, kubeconfig, "--node-name", "kite-e2e", "--node-label", "kite.test/role=e2e", "--disable", "coredns")
	srv.waitReady()
	if log := srv.stderr.String(); !strings.Contains(log, "restored it from kite") || !strings.Contains(log, runcs[0]) {
		t.Error("the missing runc was not reported")
	}
	if st, err := os.Stat(runcs[0]); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("runc not restored: %v", err)
	}
	if strings.Contains(srv.stderr.String(), "imported images") {
		t.Error("unchanged image tarballs were imported again on restart")
	}
	// Give the new kubelet time to act on what it found (a restart storm
	// shows within seconds), then compare.
	eventually(t, time.Minute, "kubelet heartbeat after restart", func() error {
		out, err := srv.kubectl("get", "node", "kite-e2e", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}`)
		if err != nil {
			return err
		}
		hb, err := time.Parse(time.RFC3339, out)
		if err == nil && !hb.After(stopped) {
			err = fmt.Errorf("last heartbeat %v is from before the restart", hb)
		}
		return err
	})
	time.Sleep(15 * time.Second)
	if after := containers(t, srv); after != before {
		t.Fatalf("containers changed across the restart:\nbefore %s\nafter  %s", before, after)
	}
	if after := shimProcesses(t, dataDir); !maps.Equal(after, shimsBefore) {
		t.Fatalf("shims changed across the restart:\nbefore %v\nafter  %v", shimsBefore, after)
	}

	t.Run("deleting pods frees their addresses and links", func(t *testing.T) {
		srv.mustKubectl(t, "-n", "e2e", "delete", "deployment", "web", "--wait")
		eventually(t, 2*time.Minute, "pods gone", func() error {
			out, err := srv.kubectl("-n", "e2e", "get", "pods", "-o", "name")
			if err == nil && strings.TrimSpace(out) != "" {
				err = fmt.Errorf("still there: %s", out)
			}
			return err
		})
		eventually(t, time.Minute, "addresses and veths released", func() error {
			ips, _ := filepath.Glob(filepath.Join(dataDir, "agent", "cni", "ipam", "kite", "10.42.*"))
			// The lab's own link is a veth too; the bridge plugin's are veth*.
			out, _ := theLab.command("ip", "-o", "link", "show", "type", "veth").Output()
			var podLinks []string
			for _, l := range strings.Split(string(out), "\n") {
				if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], "veth") {
					podLinks = append(podLinks, f[1])
				}
			}
			if len(ips) > 0 || len(podLinks) > 0 {
				return fmt.Errorf("addresses %v, pod veths %v", ips, podLinks)
			}
			return nil
		})
	})

	t.Run("start-up memory released without error", func(t *testing.T) {
		// kite server, the containerd child and the shims each release the
		// pages only their start used (pkg/memtrim); kite server and
		// containerd report a failure in their logs.
		containerdLog, err := os.ReadFile(filepath.Join(dataDir, "agent", "containerd", "containerd.log"))
		if err != nil {
			t.Fatal(err)
		}
		for name, log := range map[string]string{"kite server": srv.stderr.String(), "containerd": string(containerdLog)} {
			if i := strings.Index(log, "could not release start-up memory"); i >= 0 {
				t.Errorf("%s: %s", name, strings.SplitN(log[i:], "\n", 2)[0])
			}
		}
	})

	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	t.Run("killall cleans up", func(t *testing.T) {
		killall(t, dataDir)
		if out, _ := exec.Command("pgrep", "-f", dataDir).Output(); strings.TrimSpace(string(out)) != "" {
			t.Errorf("processes left: %s", out)
		}
		mounts, _ := os.ReadFile("/proc/self/mounts")
		if strings.Contains(string(mounts), dataDir+"/") {
			t.Errorf("mounts left under %s", dataDir)
		}
		if out, _ := theLab.command("ip", "link", "show", "kite0").CombinedOutput(); !strings.Contains(string(out), "does not exist") {
			t.Errorf("bridge kite0 left: %s", out)
		}
		if out, _ := theLab.command("iptables-save").Output(); strings.Contains(string(out), "KUBE-") || strings.Contains(string(out), "CNI-") {
			t.Errorf("iptables rules left")
		}
		assertNoPodRecords(t, dataDir)
	})
}

// TestBusyContainerdSocket: another containerd on the node's socket is
// reported by name, and kite does not take over its socket.
func TestBusyContainerdSocket(t *testing.T) {
	dataDir := t.TempDir()
	sockDir := filepath.Join(dataDir, "agent", "containerd")
	if err := os.MkdirAll(sockDir, 0o711); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(sockDir, "containerd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	code, out := runKite(t, "server", "--data-dir", dataDir, "--write-kubeconfig", filepath.Join(t.TempDir(), "k.yaml"))
	assertFailed(t, code, out, sock, "in use by another process")
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the other process's socket was removed: %v", err)
	}
}

// shimProcesses maps the PIDs of the shims serving dataDir's containerd
// to the programs they run.
func shimProcesses(t *testing.T, dataDir string) map[int]string {
	t.Helper()
	address := "-address\x00" + filepath.Join(dataDir, "agent", "containerd", "containerd.sock") + "\x00"
	procs, _ := filepath.Glob("/proc/[0-9]*")
	shims := map[int]string{}
	for _, p := range procs {
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), address) {
			continue
		}
		exe, err := os.Readlink(filepath.Join(p, "exe"))
		if err != nil {
			continue // gone meanwhile
		}
		pid, _ := strconv.Atoi(filepath.Base(p))
		shims[pid] = exe
	}
	return shims
}

// containers lists the web pods' container IDs and restart counts.
func containers(t *testing.T, srv *server) string {
	t.Helper()
	return srv.mustKubectl(t, "-n", "e2e", "get", "pods", "-l", "app=web", "--sort-by", ".metadata.name", "-o",
		`jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].containerID}/{.status.containerStatuses[0].restartCount} {end}`)
}

func apply(t *testing.T, srv *server, manifest string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.mustKubectl(t, "apply", "-f", f)
}

func waitPodsReady(t *testing.T, srv *server, selector string, n int) {
	t.Helper()
	eventually(t, 3*time.Minute, fmt.Sprintf("%d pods %s ready", n, selector), func() error {
		out, err := srv.kubectl("-n", "e2e", "get", "pods", "-l", selector, "-o",
			`jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}`)
		if err != nil {
			return err
		}
		if got := strings.Count(out, "True"); got != n {
			return fmt.Errorf("%d of %d ready: %q", got, n, out)
		}
		return nil
	})
}

// httpGet fetches / from addr inside the lab and expects kite's page.
func httpGet(addr string) error {
	out, err := theLab.command("curl", "-s", "-m", "5", "http://"+addr+"/").CombinedOutput()
	if err != nil {
		return fmt.Errorf("curl %s: %v: %s", addr, err, out)
	}
	if strings.TrimSpace(string(out)) != "hello from kite" {
		return fmt.Errorf("curl %s: %q", addr, out)
	}
	return nil
}

func killall(t *testing.T, dataDir string) {
	t.Helper()
	out, err := theLab.command(filepath.Join(repoRoot, "scripts", "killall"), dataDir).CombinedOutput()
	if err != nil {
		t.Errorf("killall: %v: %s", err, out)
	}
}

// withBusybox puts the busybox test image in dataDir's airgap folder, for
// the node to import at start, and returns dataDir.
func withBusybox(t *testing.T, dataDir string) string {
	t.Helper()
	images := filepath.Join(dataDir, "agent", "images")
	if err := os.MkdirAll(images, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, busyboxTar, filepath.Join(images, "busybox.tar"))
	return dataDir
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNftablesMode: kube-proxy's nftables mode is one pass-through flag
// away, and killall removes its tables.
func TestNftablesMode(t *testing.T) {
	dataDir := t.TempDir()
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	withBusybox(t, dataDir)
	t.Cleanup(func() { killall(t, dataDir) })
	srv := startServer(t, dataDir, kubeconfig, "--kube-proxy-arg", "proxy-mode=nftables")
	srv.waitReady()

	srv.mustKubectl(t, "create", "namespace", "e2e")
	apply(t, srv, strings.Replace(webDeployment, "replicas: 3", "replicas: 1", 1))
	waitPodsReady(t, srv, "app=web", 1)
	srv.mustKubectl(t, "-n", "e2e", "expose", "deployment", "web", "--type", "NodePort", "--port", "80", "--target-port", "8080")
	port := srv.mustKubectl(t, "-n", "e2e", "get", "service", "web", "-o", "jsonpath={.spec.ports[0].nodePort}")
	eventually(t, time.Minute, "NodePort "+port+" through nftables", func() error {
		return httpGet(labNodeIP + ":" + port)
	})
	if out, err := theLab.command("nft", "list", "table", "ip", "kube-proxy").CombinedOutput(); err != nil {
		t.Fatalf("no kube-proxy nftables table: %v: %s", err, out)
	}
	if out, _ := theLab.command("iptables-save").Output(); strings.Contains(string(out), "KUBE-SERVICES") {
		t.Error("iptables service rules exist in nftables mode")
	}
	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	killall(t, dataDir) // the pod is still running: killall kills it
	if out, err := theLab.command("nft", "list", "table", "ip", "kube-proxy").CombinedOutput(); err == nil {
		t.Errorf("killall left the kube-proxy nftables table: %s", out)
	}
	assertNoPodRecords(t, dataDir)
}

// assertNoPodRecords checks that no record of a killed pod survives
// outside the data dir: CNI results of kite's network, container log links.
func assertNoPodRecords(t *testing.T, dataDir string) {
	t.Helper()
	if left, _ := filepath.Glob("/var/lib/cni/results/kite-*"); len(left) > 0 {
		t.Errorf("CNI results left: %v", left)
	}
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if target, _ := os.Readlink(l); strings.HasPrefix(target, dataDir+"/") {
			t.Errorf("container log link left: %s", l)
		}
	}
}
