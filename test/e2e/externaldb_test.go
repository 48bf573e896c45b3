package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The external databases of TestExternalDatastores: real PostgreSQL and
// MariaDB from Debian's packages, each started by the test on a host of
// its lab, with a password, and stopped when the test ends.

const dbPassword = "e2e-db-s3cret"

// database is a started database server.
type database struct {
	name     string
	endpoint string   // --datastore-endpoint, password included
	flags    []string // more flags of kite server for it
	says     string   // what kite server's log says it runs on
	ready    string   // its ready line
	proc     *exec.Cmd
	log      *syncBuffer
	launch   func() *exec.Cmd
	// query runs SQL in the database kite uses (PostgreSQL only).
	query func(sql string) string
}

// restart stops the server with sig and starts it again on its data.
func (d *database) restart(t *testing.T, sig syscall.Signal) {
	t.Helper()
	d.stop(t, sig)
	d.log = &syncBuffer{}
	d.proc = d.launch()
	d.proc.Stdout, d.proc.Stderr = d.log, d.log
	if err := d.proc.Start(); err != nil {
		t.Fatal(err)
	}
	d.wait(t, d.ready)
}

// stop ends the server (its PID) and waits for it.
func (d *database) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if d.proc.ProcessState != nil {
		return
	}
	d.proc.Process.Signal(sig)
	done := make(chan struct{})
	go func() { d.proc.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		d.proc.Process.Kill()
		<-done
		t.Errorf("%s ignored %v for a minute", d.name, sig)
	}
}

// startDB runs a database server through command, until the test ends,
// and waits for its ready line.
func startDB(t *testing.T, name string, command func(string, ...string) *exec.Cmd, readyLine string, bin string, args ...string) *database {
	t.Helper()
	d := launchDB(t, name, command, bin, args...)
	d.ready = readyLine
	d.wait(t, readyLine)
	return d
}

// launchDB runs a database server through command, until the test ends.
func launchDB(t *testing.T, name string, command func(string, ...string) *exec.Cmd, bin string, args ...string) *database {
	t.Helper()
	d := &database{name: name, log: &syncBuffer{}, launch: func() *exec.Cmd { return command(bin, args...) }}
	d.proc = d.launch()
	d.proc.Stdout, d.proc.Stderr = d.log, d.log
	if err := d.proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.stop(t, syscall.SIGTERM)
		if t.Failed() {
			t.Logf("%s log:\n%s", name, tail(d.log.String(), 3000))
		}
	})
	return d
}

// wait waits for the server's ready line.
func (d *database) wait(t *testing.T, readyLine string) {
	t.Helper()
	eventually(t, time.Minute, d.name+" ready", func() error {
		if d.proc.ProcessState != nil {
			t.Fatalf("%s exited:\n%s", d.name, d.log.String())
		}
		if !strings.Contains(d.log.String(), readyLine) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}

func runOK(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
}

// startPostgres makes a PostgreSQL cluster in a new folder (user kite,
// password dbPassword, database kite), listening on ip:5432 of the host
// command runs on.
func startPostgres(t *testing.T, command func(string, ...string) *exec.Cmd, ip string) *database {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		t.Fatal("PostgreSQL is not installed (scripts/test installs Debian's postgresql)")
	}
	binDir := filepath.Dir(bins[len(bins)-1])
	dir := shortTempDir(t)
	os.Chmod(dir, 0o755)
	data, pwfile := filepath.Join(dir, "data"), filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(dbPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runOK(t, exec.Command("chown", "-R", "postgres:postgres", dir))
	asPostgres := func(bin string, args ...string) *exec.Cmd {
		return command("setpriv", append([]string{"--reuid=postgres", "--regid=postgres", "--init-groups", "--", bin}, args...)...)
	}
	runOK(t, asPostgres(filepath.Join(binDir, "initdb"), "-D", data, "-U", "kite", "--auth=scram-sha-256", "--pwfile="+pwfile))
	hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(hba, "host all all 198.18.0.0/15 scram-sha-256")
	hba.Close()
	db := startDB(t, "postgresql", asPostgres, "database system is ready to accept connections", filepath.Join(binDir, "postgres"),
		"-D", data, "-c", "listen_addresses="+ip, "-p", "5432", "-k", dir)
	psql := asPostgres(filepath.Join(binDir, "psql"), "-h", dir, "-U", "kite", "-d", "postgres", "-c", "CREATE DATABASE kite")
	psql.Env = append(os.Environ(), "PGPASSWORD="+dbPassword)
	runOK(t, psql)
	db.endpoint = "postgres://kite:" + dbPassword + "@" + ip + ":5432/kite?sslmode=disable"
	db.says = "datastore (kine on postgres://kite:xxxxx@"
	db.query = func(sql string) string {
		q := asPostgres(filepath.Join(binDir, "psql"), "-h", dir, "-U", "kite", "-d", "kite", "-Atc", sql)
		q.Env = append(os.Environ(), "PGPASSWORD="+dbPassword)
		out, err := q.CombinedOutput()
		if err != nil {
			return fmt.Sprintf("%v: %s", err, out)
		}
		return string(out)
	}
	return db
}

// startMariaDB makes a MariaDB server in a new folder (user kite, password
// dbPassword, database kite), listening on ip:3306 of the host command
// runs on.
func startMariaDB(t *testing.T, command func(string, ...string) *exec.Cmd, ip string) *database {
	t.Helper()
	if _, err := exec.LookPath("mariadbd"); err != nil {
		t.Fatal("MariaDB is not installed (scripts/test installs Debian's mariadb-server)")
	}
	dir := shortTempDir(t)
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	runOK(t, command("mariadb-install-db", "--datadir="+data, "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"))
	db := startDB(t, "mariadb", command, "ready for connections", "mariadbd", "--no-defaults", "--datadir="+data, "--user=root",
		"--socket="+sock, "--port=3306", "--bind-address="+ip, "--skip-name-resolve", "--pid-file="+filepath.Join(dir, "pid"))
	runOK(t, command("mariadb", "--no-defaults", "--socket="+sock, "-uroot", "-e",
		"CREATE DATABASE kite; CREATE USER 'kite'@'%' IDENTIFIED BY '"+dbPassword+"'; GRANT ALL ON kite.* TO 'kite'@'%';"))
	db.endpoint = "mysql://kite:" + dbPassword + "@tcp(" + ip + ":3306)/kite"
	db.says = "datastore (kine on mysql://kite:xxxxx@"
	return db
}

// TestExternalDatastores: kite servers on PostgreSQL, on MariaDB and on a
// three-member etcd cluster (client certificates required), each started
// here: a server and an agent on each, objects kept across a
// server restart; on PostgreSQL a second server with the same token (no
// --server) shares the control plane and carries on when the first is
// killed; bad endpoints and a wrong token refused with one clear error and
// nothing written; the password never in the log nor in ps.
func TestExternalDatastores(t *testing.T) {
	apiload(t)
	ml, dirs, cgroupRoot, on := labNodes(t, "db", "s1", "s2", "a1")
	pg := startPostgres(t, on("db"), ml.ips["db"])
	my := startMariaDB(t, on("db"), ml.ips["db"])
	etcd, etcdDir := startEtcdCluster(t, on("db"), ml.ips["db"])
	dbIP := ml.ips["db"]
	otherCA := shortTempDir(t)
	testCA(t, otherCA, "other-ca")

	t.Run("bad input", func(t *testing.T) {
		for _, c := range []struct {
			name, endpoint, want string
			extra                []string
		}{
			{"wrong password", strings.Replace(pg.endpoint, dbPassword, "wrong-pw", 1), `PostgreSQL refused user "kite": wrong user or password`, nil},
			{"missing database", strings.Replace(pg.endpoint, "/kite?", "/nosuchdb?", 1), `database "nosuchdb" does not exist`, nil},
			{"mysql wrong password", strings.Replace(my.endpoint, dbPassword, "wrong-pw", 1), `MySQL refused user "kite": wrong user or password`, nil},
			{"mysql missing database", strings.Replace(my.endpoint, ")/kite", ")/nosuchdb", 1), `database "nosuchdb"`, nil},
			{"unknown scheme", "mongodb://kite:" + dbPassword + "@" + dbIP + "/kite", `unknown database "mongodb"`, nil},
			{"malformed", "postgres://kite:" + dbPassword + "@[" + dbIP + "/kite", "is not a PostgreSQL URL", nil},
			{"missing CA file", "https://" + dbIP + ":2379", "--datastore-cafile /no/ca.crt", []string{"--datastore-cafile", "/no/ca.crt"}},
			{"etcd: another CA", etcd.endpoint, "TLS: ", []string{"--datastore-cafile", filepath.Join(otherCA, "other-ca.crt"),
				"--datastore-certfile", filepath.Join(etcdDir, "client.crt"), "--datastore-keyfile", filepath.Join(etcdDir, "client.key")}},
			{"etcd: no client certificate", etcd.endpoint, "TLS: ", []string{"--datastore-cafile", filepath.Join(etcdDir, "etcd-ca.crt")}},
		} {
			t.Run(c.name, func(t *testing.T) {
				dir := shortTempDir(t)
				args := append([]string{"server", "--data-dir", dir, "--write-kubeconfig", filepath.Join(dir, "k.yaml"),
					"--datastore-endpoint", c.endpoint}, c.extra...)
				code, out := runKiteIn(t, on("s1"), args...)
				assertFailed(t, code, out, c.want)
				if strings.Contains(out, dbPassword) {
					t.Errorf("the output shows the password:\n%s", out)
				}
				assertAbsent(t, filepath.Join(dir, "server", "tls"))
				assertAbsent(t, filepath.Join(dir, "server", "token"))
			})
		}
	})

	for _, db := range []*database{pg, my, etcd} {
		t.Run(db.name, func(t *testing.T) {
			kc := filepath.Join(t.TempDir(), "kite.yaml")
			args := []string{"server", "--data-dir", dirs["s1"], "--write-kubeconfig", kc, "--node-name", "s1",
				"--kubelet-arg", "cgroup-root=" + cgroupRoot("s1"), "--disable", "coredns,metrics-server,helm-controller,servicelb,local-storage",
				"--datastore-endpoint", db.endpoint}
			args = append(args, db.flags...)
			srv := startKite(t, on("s1"), "kite server is ready", dirs["s1"], kc, args...)
			srv.waitReady()
			if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", srv.cmd.Process.Pid)); err != nil || strings.Contains(string(cmdline), dbPassword) {
				t.Errorf("ps shows the datastore's password (%v): %q", err, cmdline)
			}
			srv.mustKubectl(t, "create", "configmap", "on-"+db.name, "--from-literal=k=v")
			token := readToken(t, filepath.Join(dirs["s1"], "server", "token"))
			withBusybox(t, dirs["a1"])
			agent := startKite(t, on("a1"), "node is Ready", dirs["a1"], kc, "agent", "--server", "https://"+ml.ips["s1"]+":6443",
				"--token", token, "--data-dir", dirs["a1"], "--node-name", "a1", "--kubelet-arg", "cgroup-root="+cgroupRoot("a1"))
			agent.waitReady()
			waitNodesReady(t, srv, "s1", "a1")

			if code := srv.stop(syscall.SIGTERM); code != 0 {
				t.Fatalf("kite server exit code %d after SIGTERM", code)
			}
			srv = startKite(t, on("s1"), "kite server is ready", dirs["s1"], kc, args...)
			srv.waitReady()
			if v := srv.mustKubectl(t, "get", "configmap", "on-"+db.name, "-o", "jsonpath={.data.k}"); v != "v" {
				t.Errorf("configmap after the restart: %q", v)
			}
			waitNodesReady(t, srv, "s1", "a1")
			if !strings.Contains(srv.stderr.String(), db.says) {
				t.Errorf("the server does not say %q", db.says)
			}
			if strings.Contains(srv.stderr.String(), dbPassword) {
				t.Error("the server's log shows the datastore's password")
			}
			switch db {
			case pg:
				restartUnderLoad(t, db, srv, syscall.SIGINT) // fast shutdown: sessions cut
				twoServers(t, ml, dirs, cgroupRoot, on, db, srv, agent, token)
			case my:
				restartUnderLoad(t, db, srv, syscall.SIGTERM) // MariaDB's normal shutdown
			}
			agent.stop(syscall.SIGTERM)
			srv.stop(syscall.SIGTERM)
			for _, h := range []string{"s1", "s2", "a1"} {
				if out, err := on(h)(filepath.Join(repoRoot, "scripts", "killall"), dirs[h]).CombinedOutput(); err != nil {
					t.Fatalf("killall: %v: %s", err, out)
				}
			}
		})
	}
}

// twoServers: a second server on the datastore of srv (s1), given the
// same token and no --server, takes the cluster's keys from the datastore
// and serves it; with s1 killed, s2 and the agent (joined through s1) go
// on, the agent running a new pod. A server with
// another token is refused, with nothing written.
func twoServers(t *testing.T, ml *multiLab, dirs map[string]string, cgroupRoot func(string) string, on func(string) func(string, ...string) *exec.Cmd, db *database, srv, agent *server, token string) {
	t.Helper()
	wrong := shortTempDir(t)
	code, out := runKiteIn(t, on("s2"), "server", "--data-dir", wrong, "--write-kubeconfig", filepath.Join(wrong, "k.yaml"),
		"--token", "another-secret", "--datastore-endpoint", db.endpoint)
	assertFailed(t, code, out, "do not open with this server's token")
	assertAbsent(t, filepath.Join(wrong, "server", "tls"))

	kc2 := filepath.Join(t.TempDir(), "s2.yaml")
	s2 := startKite(t, on("s2"), "kite server is ready", dirs["s2"], kc2, "server", "--data-dir", dirs["s2"], "--write-kubeconfig", kc2,
		"--node-name", "s2", "--kubelet-arg", "cgroup-root="+cgroupRoot("s2"), "--disable", "coredns,metrics-server,helm-controller,servicelb,local-storage",
		"--token", token, "--datastore-endpoint", db.endpoint)
	s2.waitReady()
	if !strings.Contains(s2.stderr.String(), "took the cluster's CAs and keys from the datastore") {
		t.Error("s2 does not say it took the cluster's keys from the datastore")
	}
	for _, f := range []string{"server-ca.crt", "client-ca.key", "service-account.key"} {
		a, _ := os.ReadFile(filepath.Join(dirs["s1"], "server", "tls", f))
		b, err := os.ReadFile(filepath.Join(dirs["s2"], "server", "tls", f))
		if err != nil || string(a) != string(b) {
			t.Errorf("s2's %s is not the cluster's (%v)", f, err)
		}
	}
	waitNodesReady(t, s2, "s1", "s2", "a1")
	// The agent keeps a tunnel to each server, so a server that cannot
	// dial it (NAT) still reaches its kubelet.
	eventually(t, time.Minute, "a tunnel from a1 to s2", func() error {
		if want := "server=wss://" + ml.ips["s2"] + ":6443/"; !strings.Contains(agent.stderr.String(), `"tunnel to the server is up" component=tunnel `+want) {
			return fmt.Errorf("a1 does not say its tunnel to %s is up", want)
		}
		return nil
	})
	killed := time.Now()
	srv.stop(syscall.SIGKILL)
	s2.mustKubectl(t, "create", "configmap", "after-s1-killed")
	if v := s2.mustKubectl(t, "get", "configmap", "on-"+db.name, "-o", "jsonpath={.data.k}"); v != "v" {
		t.Errorf("configmap through s2: %q", v)
	}
	// The agent joined through s1; its load balancer moves to s2: its
	// kubelet renews its Lease and runs a new pod, whose log s2 reads
	// through the agent's tunnel.
	eventually(t, 2*time.Minute, "a1's Lease renewed through s2", func() error {
		renewed, err := s2.kubectl("-n", "kube-node-lease", "get", "lease", "a1", "-o", "jsonpath={.spec.renewTime}")
		if err != nil {
			return err
		}
		if at, err := time.Parse(time.RFC3339Nano, renewed); err != nil || !at.After(killed) {
			return fmt.Errorf("renewed %q (%v), s1 killed at %s", renewed, err, killed.Format(time.RFC3339Nano))
		}
		return nil
	})
	s2.mustKubectl(t, "create", "namespace", "e2e")
	// Its default ServiceAccount comes from s2's controller manager, once
	// it has taken over the leader lease of the killed s1's.
	eventually(t, 2*time.Minute, "ServiceAccount e2e/default", func() error {
		_, err := s2.kubectl("-n", "e2e", "get", "serviceaccount", "default")
		return err
	})
	apply(t, s2, fmt.Sprintf(pinnedWebPod, "a1"))
	eventually(t, 2*time.Minute, "pod web-a1 Running with its log", func() error {
		out, err := s2.kubectl("-n", "e2e", "logs", "web-a1")
		if err != nil || !strings.Contains(out, "web-started on a1") {
			return fmt.Errorf("%v: %q", err, out)
		}
		return nil
	})
	waitNodesReady(t, s2, "s2", "a1")
	s2.stop(syscall.SIGTERM)
}

// restartUnderLoad restarts the database (stopped with sig) while 16
// clients create ConfigMaps through srv: /readyz fails while it is down and
// passes again once it is back, by itself, and every acknowledged create
// is kept.
func restartUnderLoad(t *testing.T, db *database, srv *server, sig syscall.Signal) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, acked := createUntil(t, ctx, srv, 500)
	db.stop(t, sig)
	eventually(t, time.Minute, "/readyz failing while "+db.name+" is down", func() error {
		if _, err := srv.kubectl("get", "--raw", "/readyz"); err == nil {
			return fmt.Errorf("/readyz still ok")
		}
		return nil
	})
	db.restart(t, sig)
	eventually(t, 2*time.Minute, "/readyz ok again", func() error {
		_, err := srv.kubectl("get", "--raw", "/readyz")
		return err
	})
	before := countLines(acked)
	eventually(t, time.Minute, "creates acknowledged again", func() error {
		if n := countLines(acked); n < before+200 {
			return fmt.Errorf("%d more so far", n-before)
		}
		return nil
	})
	l.stop()
	// Each acknowledged name, read from the datastore (a GET with
	// resourceVersion 0 may come from the API server's cache; a plain GET
	// of one object reads the datastore), then the list.
	got := configMapNames(t, srv)
	for _, name := range strings.Fields(readFile(t, acked)) {
		if got[name] {
			continue
		}
		out, err := srv.kubectl("-n", "apiload", "get", "configmap", name, "-o", "jsonpath={.metadata.resourceVersion}")
		t.Errorf("acknowledged ConfigMap %s is not listed; a GET of it says %q %v", name, out, err)
		if db.query != nil {
			t.Logf("rows of %s: %s", name, db.query("SELECT id, name, created, deleted, create_revision, prev_revision FROM kine WHERE name LIKE '%/apiload/"+name+"'"))
		}
	}
	assertAllAcked(t, srv, acked, countLines(acked))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
