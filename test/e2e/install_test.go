package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInstall: install.sh, run by dash as `curl … | sh -` would run it,
// installs from a release folder made by scripts/release and served over
// HTTP on loopback: the binary, the kubectl/crictl/ctr links, a systemd
// unit whose ExecStart starts a server that gets Ready, a 0600 environment
// file; a bad checksum changes nothing; a second run upgrades in place;
// the uninstall script leaves no file behind. A token given as a flag
// (INSTALL_KITE_EXEC or install.sh's arguments) ends up in the 0600
// environment file only, never in the unit, the OpenRC script or the
// command line; kite-killall.sh stops the installed service first, and
// only for its data dir; its wait is bounded.
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
	var args []string // install.sh's own arguments, as in `sh -s - server …`
	install := func(url string, env ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(shell[0], append(append(shell[1:], filepath.Join(repoRoot, "install.sh")), args...)...)
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
	for _, f := range []string{"kite-" + arch + ".xz", "kite-killall.sh"} {
		copyFile(t, filepath.Join(release, f), filepath.Join(bad, f))
	}
	sums, _ := os.ReadFile(filepath.Join(release, "sha256sum-"+arch+".txt"))
	var badSums []string
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		if strings.HasSuffix(line, "kite-"+arch+".xz") {
			line = strings.Repeat("0", 64) + line[64:]
		}
		badSums = append(badSums, line)
	}
	os.WriteFile(filepath.Join(bad, "sha256sum-"+arch+".txt"), []byte(strings.Join(badSums, "\n")+"\n"), 0o644)
	// Under busybox's ash too; a local path works as well as a URL.
	for _, sh := range [][]string{{"dash"}, {"/bin/busybox", "sh"}} {
		shell = sh
		code, out := install(bad)
		if code == 0 || !strings.Contains(out, "checksum mismatch for kite-"+arch+".xz") {
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
	// A join token as a flag, with characters that sh, systemd and OpenRC
	// all treat specially (kite takes anything but white space). KITE_TOKEN
	// and a --token of another value: an error before anything is written.
	secret := `in"st'all$ed%se\cr;et`
	tokenExec := "INSTALL_KITE_EXEC=server --data-dir " + dataDir + " --node-name kite-installed --disable coredns --token " + shQuote(secret)
	if code, out := install(srv.URL, tokenExec); code == 0 || !strings.Contains(out, "given twice") || strings.Contains(out, secret) {
		t.Fatalf("KITE_TOKEN and another --token: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(root); err == nil {
		if entries, _ := os.ReadDir(root); len(entries) != 0 {
			t.Fatalf("a failed install left files: %v", entries)
		}
	}

	code, out := install(srv.URL, tokenExec, "KITE_TOKEN=")
	if code != 0 {
		t.Fatalf("install: exit %d:\n%s", code, out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("install.sh printed the token:\n%s", out)
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
	// The token: in the 0600 environment file, nowhere else.
	envFile := filepath.Join(unitDir, "kite.service.env")
	assertMode(t, envFile, 0o600)
	assertMode(t, filepath.Join(unitDir, "kite.service"), 0o644)
	envData, _ := os.ReadFile(envFile)
	if got := systemdEnvFile(string(envData))["KITE_TOKEN"]; got != secret {
		t.Errorf("env file: KITE_TOKEN %q, want %q:\n%s", got, secret, envData)
	}
	for _, f := range []string{filepath.Join(unitDir, "kite.service"), filepath.Join(binDir, "kite-uninstall.sh")} {
		if data, _ := os.ReadFile(f); strings.Contains(string(data), "--token") || strings.Contains(string(data), "se\\cr;et") {
			t.Errorf("%s holds the token:\n%s", f, data)
		}
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
	for k, v := range systemdEnvFile(string(envData)) { // as systemd's EnvironmentFile= gives it
		t.Setenv(k, v)
	}
	lab := func(name string, args ...string) *exec.Cmd {
		if name == kiteBin { // startKite's binary: the unit's instead
			name = execStart[0]
		}
		return theLab.command(name, args...)
	}
	node := startKite(t, lab, "kite server is ready", dataDir, kubeconfig, append(execStart[1:], "--write-kubeconfig", kubeconfig)...)
	node.waitReady()
	if token, _ := os.ReadFile(filepath.Join(dataDir, "server", "token")); !strings.HasSuffix(strings.TrimSpace(string(token)), "::server:"+secret) {
		t.Errorf("the server did not take KITE_TOKEN from the environment file: %q", token)
	}
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", node.cmd.Process.Pid)); strings.Contains(string(cmdline), "se\\cr;et") {
		t.Errorf("the token is on kite's command line: %q", cmdline)
	}
	node.stop(syscall.SIGTERM)

	testKillallService(t, binDir, filepath.Join(unitDir, "kite.service"), dataDir)

	// Again: an upgrade in place.
	before, _ := os.Stat(filepath.Join(binDir, "kite"))
	code, out = install(srv.URL, tokenExec, "KITE_TOKEN=")
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
	if env, _ := os.ReadFile(filepath.Join(unitDir, "kite-agent.service.env")); systemdEnvFile(string(env))["KITE_URL"] != "https://198.18.0.1:6443" || systemdEnvFile(string(env))["KITE_TOKEN"] != "installed-secret" {
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
	// The token comes as install.sh's argument (`sh -s - -t …`), and goes to
	// conf.d only.
	openrc := filepath.Join(root, "init.d")
	args = []string{"--disable", "servicelb", "-t", secret}
	code, out = install(srv.URL, "INSTALL_KITE_INIT=openrc", "INSTALL_KITE_OPENRC_DIR="+openrc, "KITE_NODE_NAME=it's-mine", "KITE_TOKEN=")
	args = nil
	if code != 0 {
		t.Fatalf("install for OpenRC: exit %d:\n%s", code, out)
	}
	script := filepath.Join(openrc, "kite")
	for _, sh := range []string{"sh", "dash"} {
		if out, err := exec.Command(sh, "-n", script).CombinedOutput(); err != nil {
			t.Errorf("%s -n %s: %v\n%s", sh, script, err, out)
		}
	}
	if data, _ := os.ReadFile(script); !strings.Contains(string(data), `command_args="server --data-dir`) || !strings.Contains(string(data), "--disable servicelb\"") || strings.Contains(string(data), "se\\cr;et") {
		t.Errorf("OpenRC script:\n%s", data)
	}
	confd := filepath.Join(root, "conf.d", "kite")
	assertMode(t, confd, 0o600)
	if out, err := exec.Command("dash", "-c", `. "$1" && printf '%s|%s' "$KITE_NODE_NAME" "$KITE_TOKEN"`, "dash", confd).CombinedOutput(); err != nil || string(out) != "it's-mine|"+secret {
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

// testKillallService: kite-killall.sh, installed beside the uninstall
// script that names dataDir, stops the service first. A stand-in
// systemctl (first on PATH) records its calls, says that systemd runs
// unit, and on `stop` ends a supervisor that, like Restart=always, starts
// a process of the data dir again whenever it is killed. Without the
// stop (scripts/killall, which has no uninstall script beside it, or the
// installed one for another data dir) no service is touched and killall
// gives up after KITE_KILLALL_TIMEOUT seconds instead of waiting forever.
func testKillallService(t *testing.T, binDir, unit, dataDir string) {
	t.Helper()
	sleeper := filepath.Join(dataDir, "data", "killall-test-sleep") // under <data-dir>/data: the data dir's
	if err := os.MkdirAll(filepath.Dir(sleeper), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, "/bin/sleep", sleeper)
	os.Chmod(sleeper, 0o755)
	defer os.Remove(sleeper)
	supervisor := exec.Command("sh", "-c", `while :; do "$0" 600; done`, sleeper)
	if err := supervisor.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { supervisor.Wait(); close(exited) }()
	t.Cleanup(func() { // before the test's killall, which kills what it left (cleanups run last first)
		supervisor.Process.Kill()
		<-exited
	})

	fake := t.TempDir()
	calls := filepath.Join(fake, "calls")
	systemctl := fmt.Sprintf(`#!/bin/sh
echo "$*" >>'%[1]s'
case $1 in
show) echo 'FragmentPath=%[2]s' ;;
stop)
	pgrep -f '^%[3]s' >/dev/null && echo 'stopped while the data dir ran' >>'%[1]s'
	kill %[4]d
	;;
esac
`, calls, unit, sleeper, supervisor.Process.Pid)
	if err := os.WriteFile(filepath.Join(fake, "systemctl"), []byte(systemctl), 0o755); err != nil {
		t.Fatal(err)
	}
	killall := func(script, dir string) (int, string, time.Duration) {
		t.Helper()
		cmd := theLab.command(script, dir)
		cmd.Env = append(os.Environ(), "PATH="+fake+":"+os.Getenv("PATH"), "KITE_KILLALL_TIMEOUT=3")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out), time.Since(start)
	}
	// Wait until the supervisor has started its first process.
	eventually(t, 10*time.Second, "the supervised process", func() error {
		if out, _ := exec.Command("pgrep", "-f", "^"+sleeper).Output(); len(out) == 0 {
			return fmt.Errorf("not running")
		}
		return nil
	})

	// scripts/killall: no uninstall script beside it, so no service; the
	// process comes back each time: given up on after 3 s.
	code, out, took := killall(filepath.Join(repoRoot, "scripts", "killall"), dataDir)
	if code == 0 || !strings.Contains(out, "given up") || took > 30*time.Second {
		t.Errorf("scripts/killall against a restarting process: exit %d after %v:\n%s", code, took, out)
	}
	// The installed kite-killall.sh for another data dir: no service either.
	if code, out, _ := killall(filepath.Join(binDir, "kite-killall.sh"), t.TempDir()); code != 0 {
		t.Errorf("kite-killall.sh for another data dir: exit %d:\n%s", code, out)
	}
	if data, err := os.ReadFile(calls); err == nil {
		t.Errorf("systemctl was called for a data dir that is not the service's (or by scripts/killall):\n%s", data)
	}
	// The installed kite-killall.sh for the service's data dir: the service
	// is stopped first, and then nothing comes back.
	code, out, _ = killall(filepath.Join(binDir, "kite-killall.sh"), dataDir)
	if code != 0 || !strings.Contains(out, "stopping kite.service first") {
		t.Errorf("kite-killall.sh for the service's data dir: exit %d:\n%s", code, out)
	}
	data, _ := os.ReadFile(calls)
	if want := "show -p FragmentPath kite.service\nstop kite.service\nstopped while the data dir ran\n"; string(data) != want {
		t.Errorf("systemctl calls:\n%s\nwant:\n%s", data, want)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Errorf("the supervisor still runs after kite-killall.sh")
	}
	if out, _ := exec.Command("pgrep", "-f", "^"+sleeper).Output(); len(out) != 0 {
		t.Errorf("processes of the data dir left: %s", out)
	}
}

// shQuote quotes s for sh (and for install.sh's INSTALL_KITE_EXEC).
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// systemdEnvFile reads an environment file as systemd's EnvironmentFile=
// does (systemd.exec(5)): KEY=VALUE lines, lines starting with # or ;
// ignored; a value in '…' is verbatim, in "…" \ " $ ` are escaped by a
// backslash and backslash-newline continues; unquoted, a backslash escapes
// the next character, a trailing one continues the line, and blanks around
// it are dropped. Values may span lines inside quotes.
func systemdEnvFile(data string) map[string]string {
	env := map[string]string{}
	for i := 0; i < len(data); {
		line, _, _ := strings.Cut(data[i:], "\n")
		key, _, ok := strings.Cut(line, "=")
		if trimmed := strings.TrimLeft(line, " \t"); !ok || trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';' {
			i += len(line) + 1
			continue
		}
		i += len(key) + 1
		for i < len(data) && (data[i] == ' ' || data[i] == '\t') {
			i++
		}
		var v strings.Builder
		quoted := i < len(data) && (data[i] == '\'' || data[i] == '"')
		switch {
		case quoted && data[i] == '\'':
			n := strings.IndexByte(data[i+1:], '\'')
			if n < 0 {
				n = len(data) - i - 1
			}
			v.WriteString(data[i+1 : i+1+n])
			i += n + 2
		case quoted:
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' && i+1 < len(data) {
					switch data[i+1] {
					case '"', '\\', '`', '$':
						i++
					case '\n':
						i++
						continue
					}
				}
				v.WriteByte(data[i])
			}
			i++
		default:
			for ; i < len(data) && data[i] != '\n'; i++ {
				if data[i] == '\\' && i+1 < len(data) {
					if i++; data[i] == '\n' {
						continue
					}
				}
				v.WriteByte(data[i])
			}
		}
		// What follows a closing quote on its line is not part of the value.
		if i >= len(data) {
			i = len(data)
		} else if nl := strings.IndexByte(data[i:], '\n'); nl >= 0 {
			i += nl + 1
		} else {
			i = len(data)
		}
		val := v.String()
		if !quoted {
			val = strings.TrimRight(val, " \t\r")
		}
		env[strings.TrimSpace(key)] = val
	}
	return env
}
