package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kite-project/kite/pkg/logging"
)

// logPod is the pod TestLogStream runs.
var logPod = sleepPod("logs", "e2e")

// sleepPod is a busybox pod, labelled app=<name>, that sleeps.
func sleepPod(name, namespace string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s, labels: {app: %s}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: sleep
    image: kite.local/busybox:1.35
    imagePullPolicy: Never
    command: ["sleep", "3600"]
`, name, namespace, name)
}

// TestLogStream: every line kite prints while a server with its node
// starts, runs a pod and stops is one line of the chosen format (text,
// then JSON) with a component. Both runs share one data dir; the restart
// is in the top-level test (docs/development.md).
func TestLogStream(t *testing.T) {
	dataDir := withBusybox(t, t.TempDir())
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	t.Cleanup(func() { killall(t, dataDir) })
	disable := []string{"--disable", "coredns,metrics-server,helm-controller,local-storage,servicelb"}

	for _, format := range []string{"text", "json"} {
		srv := startServer(t, dataDir, kubeconfig, append([]string{"--log-format", format}, disable...)...)
		srv.waitReady()
		if format == "text" {
			srv.mustKubectl(t, "create", "namespace", "e2e")
			apply(t, srv, logPod)
		}
		waitPodsReady(t, srv, "app=logs", 1)
		if code := srv.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("%s: exit code %d after SIGTERM", format, code)
		}
		assertLogStream(t, format, srv.stderr.String(), "kite", "apiserver", "kubelet", "containerd", "kine", "scheduler", "controller-manager")
	}
}

// assertLogStream checks that every line of out is one record of format
// with a component, and that each component of want has lines.
func assertLogStream(t *testing.T, format, out string, want ...string) {
	t.Helper()
	seen := map[string]int{}
	for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		comp, err := parseLogLine(format, line)
		if err != nil {
			t.Errorf("%s line %d: %v: %q", format, i+1, err, line)
			continue
		}
		seen[comp]++
	}
	t.Logf("%s: lines by component: %v", format, seen)
	for _, c := range want {
		if seen[c] == 0 {
			t.Errorf("%s: no line of component %s", format, c)
		}
	}
}

// parseLogLine checks that line is one record of format with time, level,
// msg and a component, and returns the component.
func parseLogLine(format, line string) (string, error) {
	var fields []logging.Field
	if format == "json" {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return "", err
		}
		var err error
		if fields, err = logging.ParseJSON(line); err != nil {
			return "", err
		}
	} else {
		var err error
		if fields, err = logging.ParseText(line); err != nil {
			return "", err
		}
	}
	got := map[string]string{}
	for _, f := range fields {
		if _, dup := got[f.Key]; dup && f.Key == logging.Key {
			return "", errorf("two components")
		}
		got[f.Key] = f.Value
	}
	for _, k := range []string{"time", "level", "msg"} {
		if _, ok := got[k]; !ok {
			return "", errorf("no " + k)
		}
	}
	if format == "text" && (len(fields) < 4 || fields[0].Key != "time" || fields[1].Key != "level" || fields[2].Key != "msg") {
		return "", errorf("not time= level= msg= first")
	}
	if got[logging.Key] == "" {
		return "", errorf("no component")
	}
	return got[logging.Key], nil
}

type errorf string

func (e errorf) Error() string { return string(e) }
