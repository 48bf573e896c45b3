package e2e

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// TestInstall: install.sh, run by dash as `curl … | sh -` would run it,
// installs from a release folder made by scripts/release and served over
// HTTP on loopback: the binary, the kubectl/crictl/ctr links, a systemd
// unit whose ExecStart starts a server that gets Ready, a 0600 environment
// file; a bad checksum changes nothing; a second run upgrades in place;
// the uninstall script leaves no file behind.
func TestInstall(t *testing.T) {
	release := t.TempDir()
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "release"), release)
	cmd.Env = append(os.Environ(), "KITE_BIN="+kiteBin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/release: %v\n%s", err, out)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(release)))
	defer srv.Close()

	root := t.TempDir()
	binDir, unitDir := filepath.Join(root, "bin"), filepath.Join(root, "systemd")
	dataDir := t.TempDir()
	shell := []string{"dash"}
	install := func(url string, env ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(shell[0], append(shell[1:], filepath.Join(repoRoot, "install.sh"))...)
		cmd.Env = append([]string{
			"PATH=/usr/sbin:/usr/bin:/sbin:/bin", // no kubectl, crictl or ctr
			"INSTALL_KITE_DOWNLOAD_URL=" + url,
			"INSTALL_KITE_BIN_DIR=" + binDir,
			"INSTALL_KITE_SYSTEMD_DIR=" + unitDir,
			"INSTALL_KITE_SKIP_ENABLE=true", "INSTALL_KITE_SKIP_START=true",
			"INSTALL_KITE_EXEC=server --data-dir " + dataDir + " --node-name kite-installed --disable coredns",
			"KITE_TOKEN=installed-secret",
		}, env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String()
	}

	// A bad checksum: one error line, nothing installed.
	arch := runtime.GOARCH
	bad := t.TempDir()
	for _, f := range []string{"kite-" + arch + ".gz", "kite-killall.sh"} {
		copyFile(t, filepath.Join(release, f), filepath.Join(bad, f))
	}
	sums, _ := os.ReadFile(filepath.Join(release, "sha256sum-"+arch+".txt"))
	var badSums []string
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		if strings.HasSuffix(line, "kite-"+arch+".gz") {
			line = strings.Repeat("0", 64) + line[64:]
		}
		badSums = append(badSums, line)
	}
	os.WriteFile(filepath.Join(bad, "sha256sum-"+arch+".txt"), []byte(strings.Join(badSums, "\n")+"\n"), 0o644)
	// Under busybox's ash too; a local path works as well as a URL.
	for _, sh := range [][]string{{"dash"}, {"/bin/busybox", "sh"}} {
		shell = sh
		code, out := install(bad)
		if code == 0 || !strings.Contains(out, "checksum mismatch for kite-"+arch+".gz") {
			t.Fatalf("bad checksum (%s): exit %d:\n%s", sh[0], code, out)
		}
	}
	// An architecture kite is not built for (uname answering riscv64;
	// dash: busybox's sh would run its own uname applet).
	shell = []string{"dash"}
	fakeBin := t.TempDir()
	os.WriteFile(filepath.Join(fakeBin, "uname"), []byte("#!/bin/sh\n[ \"$1\" = -m ] && echo riscv64 || /bin/uname \"$@\"\n"), 0o755)
	if code, out := install(srv.URL, "PATH="+fakeBin+":/usr/sbin:/usr/bin:/sbin:/bin"); code == 0 || !strings.Contains(out, "unsupported architecture riscv64") {
		t.Fatalf("riscv64: exit %d:\n%s", code, out)
	}
	// An agent needs its server's address.
	if code, out := install(srv.URL, "INSTALL_KITE_EXEC=agent"); code == 0 || !strings.Contains(out, "KITE_URL") {
		t.Fatalf("agent without KITE_URL: exit %d:\n%s", code, out)
	}
	shell = []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "dash"}
	if code, out := install(srv.URL); code == 0 || !strings.Contains(out, "run as root") {
		t.Fatalf("not root: exit %d:\n%s", code, out)
	}
	shell = []string{"dash"}
	if _, err := os.Stat(root); err == nil {
		if entries, _ := os.ReadDir(root); len(entries) != 0 {
			t.Fatalf("a failed install left files: %v", entries)
		}
	}

	code, out := install(srv.URL)
	if code != 0 {
		t.Fatalf("install: exit %d:\n%s", code, out)
	}
	// Linked unless the command exists already (this machine may have a
	// kubectl in /usr/bin).
	for _, link := range []string{"kubectl", "crictl", "ctr"} {
		target, err := os.Readlink(filepath.Join(binDir, link))
		if existing, lookErr := exec.LookPath(filepath.Join("/usr/bin", link)); lookErr == nil {
			if err == nil || !strings.Contains(out, link+" exists already") {
				t.Errorf("%s exists at %s, yet was linked (%q) or not reported:\n%s", link, existing, target, out)
			}
			continue
		}
		if err != nil || target != filepath.Join(binDir, "kite") {
			t.Errorf("%s: %q %v", link, target, err)
		}
	}
	unit, err := os.ReadFile(filepath.Join(unitDir, "kite.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "KillMode=process", "Delegate=yes", "LimitNOFILE=", "ExecStart=" + filepath.Join(binDir, "kite") + " server --data-dir"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %q:\n%s", want, unit)
		}
	}
	// systemd's own check: it reports problems on its output, exit 0 or not.
	if out, err := exec.Command("systemd-analyze", "verify", filepath.Join(unitDir, "kite.service")).CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	envFile := filepath.Join(unitDir, "kite.service.env")
	assertMode(t, envFile, 0o600)
	if env, _ := os.ReadFile(envFile); !strings.Contains(string(env), "KITE_TOKEN=installed-secret") {
		t.Errorf("env file: %q", env)
	}

	// The unit's own ExecStart line, with its environment file, starts a
	// server that gets Ready (in the lab).
	var execStart []string
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			execStart = strings.Fields(v)
		}
	}
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	t.Cleanup(func() { killall(t, dataDir) })
	env, _ := os.ReadFile(envFile) // as systemd's EnvironmentFile= gives it
	for _, line := range strings.Split(strings.TrimSpace(string(env)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			t.Setenv(k, v)
		}
	}
	lab := func(name string, args ...string) *exec.Cmd {
		if name == kiteBin { // startKite's binary: the unit's instead
			name = execStart[0]
		}
		return theLab.command(name, args...)
	}
	node := startKite(t, lab, "kite server is ready", dataDir, kubeconfig, append(execStart[1:], "--write-kubeconfig", kubeconfig)...)
	node.waitReady()
	if token, _ := os.ReadFile(filepath.Join(dataDir, "server", "token")); !strings.HasSuffix(strings.TrimSpace(string(token)), "::server:installed-secret") {
		t.Errorf("the server did not take KITE_TOKEN from the environment file: %q", token)
	}
	node.stop(syscall.SIGTERM)

	// Again: an upgrade in place.
	before, _ := os.Stat(filepath.Join(binDir, "kite"))
	code, out = install(srv.URL)
	after, _ := os.Stat(filepath.Join(binDir, "kite"))
	if code != 0 || os.SameFile(before, after) {
		t.Fatalf("upgrade: exit %d, binary replaced: %v\n%s", code, !os.SameFile(before, after), out)
	}

	// Uninstall: nothing of the install is left; the data dir stays.
	if out, err := theLab.command(filepath.Join(binDir, "kite-uninstall.sh")).CombinedOutput(); err != nil { // its killall cleans the lab, where the node ran
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	for _, dir := range []string{binDir, unitDir} {
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("left in %s after uninstall: %v", dir, entries)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "server")); err != nil {
		t.Errorf("the data dir went with the uninstall: %v", err)
	}

	// KITE_URL makes an agent: kite-agent, with its own uninstall script.
	code, out = install(srv.URL, "INSTALL_KITE_EXEC=", "KITE_URL=https://198.18.0.1:6443")
	if code != 0 {
		t.Fatalf("install an agent: exit %d:\n%s", code, out)
	}
	agentUnit, _ := os.ReadFile(filepath.Join(unitDir, "kite-agent.service"))
	if !strings.Contains(string(agentUnit), "ExecStart="+filepath.Join(binDir, "kite")+" agent") {
		t.Errorf("agent unit:\n%s", agentUnit)
	}
	if env, _ := os.ReadFile(filepath.Join(unitDir, "kite-agent.service.env")); !strings.Contains(string(env), "KITE_URL=https://198.18.0.1:6443") {
		t.Errorf("agent env file: %q", env)
	}
	if out, err := theLab.command(filepath.Join(binDir, "kite-agent-uninstall.sh")).CombinedOutput(); err != nil {
		t.Fatalf("uninstall the agent: %v\n%s", err, out)
	}
	for _, dir := range []string{binDir, unitDir} {
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("left in %s after the agent's uninstall: %v", dir, entries)
		}
	}

	// Where OpenRC runs (Alpine): an OpenRC script that parses, its
	// settings in conf.d (export lines, 0600), removed again by uninstall.
	openrc := filepath.Join(root, "init.d")
	code, out = install(srv.URL, "INSTALL_KITE_INIT=openrc", "INSTALL_KITE_OPENRC_DIR="+openrc, "KITE_NODE_NAME=it's-mine")
	if code != 0 {
		t.Fatalf("install for OpenRC: exit %d:\n%s", code, out)
	}
	script := filepath.Join(openrc, "kite")
	for _, sh := range []string{"sh", "dash"} {
		if out, err := exec.Command(sh, "-n", script).CombinedOutput(); err != nil {
			t.Errorf("%s -n %s: %v\n%s", sh, script, err, out)
		}
	}
	if data, _ := os.ReadFile(script); !strings.Contains(string(data), `command_args="server --data-dir`) {
		t.Errorf("OpenRC script:\n%s", data)
	}
	confd := filepath.Join(root, "conf.d", "kite")
	assertMode(t, confd, 0o600)
	if out, err := exec.Command("dash", "-c", `. "$1" && echo "$KITE_NODE_NAME $KITE_TOKEN"`, "dash", confd).CombinedOutput(); err != nil || string(out) != "it's-mine installed-secret\n" {
		t.Errorf("conf.d file read by sh: %q %v", out, err)
	}
	if out, err := theLab.command(filepath.Join(binDir, "kite-uninstall.sh")).CombinedOutput(); err != nil { // its killall cleans the lab, where the node ran
		t.Fatalf("uninstall (OpenRC): %v\n%s", err, out)
	}
	for _, dir := range []string{binDir, openrc, filepath.Dir(confd)} {
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("left in %s after uninstall: %v", dir, entries)
		}
	}
}
