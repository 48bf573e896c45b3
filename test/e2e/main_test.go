// Package e2e drives the built kite binary as a user would, inside a
// network namespace of the test's own with no route off the machine.
//
// Needs root. The binary is built once with scripts/build, or taken from
// KITE_BIN.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	kiteBin    string
	busyboxTar string // kite.local/busybox:1.35, from scripts/images
	repoRoot   string
	theLab     *lab
	// labResolvConf is every test node's --resolv-conf: CoreDNS forwards
	// names outside the cluster to the lab router's address, where nothing
	// answers unless a test serves DNS there; never to the host's
	// resolvers, off the machine.
	labResolvConf string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: these tests need root (network namespaces, mounts); run them as root")
		return 1
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = root
	kiteBin = os.Getenv("KITE_BIN")
	if kiteBin == "" {
		kiteBin = filepath.Join(root, "bin", "kite")
		build := exec.Command(filepath.Join(root, "scripts", "build"), kiteBin)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: build failed:", err)
			return 1
		}
	}
	images := exec.Command(filepath.Join(root, "scripts", "images"), filepath.Join(root, "bin", "images"), "busybox")
	images.Stdout, images.Stderr = os.Stderr, os.Stderr
	if err := images.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the test images failed:", err)
		return 1
	}
	busyboxTar = filepath.Join(root, "bin", "images", "busybox.tar")
	if theLab, err = newLab(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: cannot make the test network:", err)
		return 1
	}
	defer theLab.close()
	dir, err := os.MkdirTemp("", "kite-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	labResolvConf = filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(labResolvConf, []byte("nameserver "+labRouterIP+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// server is one `kite server` (or `kite agent`) process of a test.
type server struct {
	t          *testing.T
	dataDir    string
	kubeconfig string
	cmd        *exec.Cmd
	stderr     *syncBuffer
	exited     chan struct{}
	exitErr    error
	// readyLine is the log line that says it is ready.
	readyLine string
	// command runs a program where this kite runs (its network namespace).
	command func(name string, args ...string) *exec.Cmd
}

// syncBuffer collects a process's stderr while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer starts kite server on dataDir in the lab and returns at once.
func startServer(t *testing.T, dataDir, kubeconfig string, extra ...string) *server {
	t.Helper()
	args := append([]string{"server", "--data-dir", dataDir, "--write-kubeconfig", kubeconfig}, extra...)
	return startKite(t, theLab.command, "kite server is ready", dataDir, kubeconfig, args...)
}

// startKite starts kite with args through command and returns at once.
func startKite(t *testing.T, command func(string, ...string) *exec.Cmd, readyLine, dataDir, kubeconfig string, args ...string) *server {
	t.Helper()
	if (args[0] == "server" || args[0] == "agent") && !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--resolv-conf") }) {
		args = append(args, "--resolv-conf", labResolvConf)
	}
	s := &server{t: t, dataDir: dataDir, kubeconfig: kubeconfig, stderr: &syncBuffer{}, exited: make(chan struct{}), readyLine: readyLine, command: command}
	s.cmd = command(kiteBin, args...)
	s.cmd.Stderr = s.stderr
	s.cmd.Stdout = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.exitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("kite %s output (last 6000 bytes):\n%s", args[0], tail(s.stderr.String(), 6000))
		}
	})
	return s
}

// waitReady waits for the process's ready line.
func (s *server) waitReady() {
	s.t.Helper()
	deadline := time.After(5 * time.Minute)
	for !strings.Contains(s.stderr.String(), s.readyLine) {
		select {
		case <-s.exited:
			s.t.Fatalf("kite exited before it was ready (%v):\n%s", s.exitErr, tail(s.stderr.String(), 6000))
		case <-deadline:
			s.t.Fatalf("kite not ready after 5 minutes:\n%s", tail(s.stderr.String(), 6000))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stop sends sig and waits for the process to end; it returns the exit code.
func (s *server) stop(sig syscall.Signal) int {
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Signal(sig)
		select {
		case <-s.exited:
		case <-time.After(2 * time.Minute):
			s.cmd.Process.Kill()
			<-s.exited
			s.t.Errorf("kite ignored %v for 2 minutes", sig)
		}
	}
	return s.cmd.ProcessState.ExitCode()
}

// kubectl runs `kite kubectl` against the server and returns its stdout.
func (s *server) kubectl(args ...string) (string, error) {
	return s.kite(append([]string{"kubectl"}, args...)...)
}

// kite runs a kite command (kubectl, ctr, crictl) in the lab against this
// server's kubeconfig and data dir, and returns its stdout.
func (s *server) kite(args ...string) (string, error) {
	cmd := s.command(kiteBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig, "KITE_DATA_DIR="+s.dataDir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("kite %s: %v: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

func (s *server) mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.kubectl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitEvent waits up to a minute for an Event of namespace ("default" if
// empty) matching the field selector whose message holds want.
func waitEvent(t *testing.T, srv *server, namespace, selector, want string) {
	t.Helper()
	if namespace == "" {
		namespace = "default"
	}
	eventually(t, time.Minute, "an Event "+selector, func() error {
		out, err := srv.kubectl("-n", namespace, "get", "events", "--field-selector", selector, "-o", "jsonpath={.items[*].message}")
		if err == nil && !strings.Contains(out, want) {
			err = fmt.Errorf("events: %q", out)
		}
		return err
	})
}

// eventually retries check until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: still failing after %v: %v", what, timeout, err)
		case <-time.After(time.Second):
		}
	}
}

// runKite runs kite to completion in the lab and returns its exit code and
// combined output. It is for commands expected to end by themselves.
func runKite(t *testing.T, args ...string) (int, string) {
	t.Helper()
	return runKiteIn(t, theLab.command, args...)
}

// runKiteIn is runKite through command (another namespace).
func runKiteIn(t *testing.T, command func(string, ...string) *exec.Cmd, args ...string) (int, string) {
	t.Helper()
	cmd := command(kiteBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("kite %s did not end within 2 minutes:\n%s", strings.Join(args, " "), out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// listening returns the TCP ports listened on in the lab's node namespace.
func listening(t *testing.T) string {
	t.Helper()
	out, err := theLab.command("ss", "-Hltn").CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v: %s", err, out)
	}
	return string(out)
}

// benchTools are the programs of test/bench the tests use, built once.
var benchTools sync.Map // name → *benchBuild

type benchBuild struct {
	once sync.Once
	path string
	err  error
}

// benchTool builds test/bench/NAME once into bin/bench, with the project's
// build settings, and returns its path.
func benchTool(t *testing.T, name string) string {
	t.Helper()
	v, _ := benchTools.LoadOrStore(name, &benchBuild{})
	b := v.(*benchBuild)
	b.once.Do(func() {
		b.path = filepath.Join(repoRoot, "bin", "bench", name)
		cmd := exec.Command("bash", "-c", `. scripts/env && go build -o "$1" ./test/bench/`+name, "bash", b.path)
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building %s: %v\n%s", name, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}
