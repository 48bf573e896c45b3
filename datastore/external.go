package datastore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kite-project/kite/datastore/kine"
	"github.com/kite-project/kite/pkg/dbendpoint"
)

// externalEtcd is an etcd cluster of the user's: the API server uses it
// directly, so this component only names it.
type externalEtcd struct{ servers []string }

func (e externalEtcd) Name() string                  { return "datastore (external etcd)" }
func (e externalEtcd) Prepare(context.Context) error { return nil }
func (e externalEtcd) Ready(context.Context) error   { return nil }
func (e externalEtcd) Endpoint() string              { return strings.Join(e.servers, ",") }
func (e externalEtcd) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// fatalError is a datastore's answer that waiting does not change: wrong
// credentials, a missing database, a certificate it refuses.
type fatalError struct{ error }

// waitReachable checks, before a server writes anything, that the external
// datastore of e takes this server: it connects as the server will. A
// datastore that cannot be reached yet (down, starting, no route) is
// retried with back-off until ctx ends, said once for each kind of
// failure; one that answers no (credentials, database, TLS, version) is
// an error at once.
func waitReachable(ctx context.Context, e dbendpoint.Endpoint, files dbendpoint.TLS, log *slog.Logger) error {
	said := map[string]bool{}
	wait := time.Second
	for {
		err := reach(ctx, e, files, log)
		if err == nil {
			if len(said) > 0 {
				log.Info("the datastore answers now", "endpoint", e.Redacted)
			}
			return nil
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			return fmt.Errorf("--datastore-endpoint %s: %w", e.Redacted, fatal.error)
		}
		if class := failureClass(err); !said[class] {
			said[class] = true
			log.Warn("cannot reach the datastore yet; retrying with back-off (said once for each kind of failure)", "endpoint", e.Redacted, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("--datastore-endpoint %s: gave up: %w", e.Redacted, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// failureClass groups failures that are the same news: refused, timed
// out, no such host, or else the error's text without numbers.
func failureClass(err error) string {
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.As(err, &dns):
		return "dns"
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "timeout"
	}
	return digits.ReplaceAllString(err.Error(), "#")
}

var digits = regexp.MustCompile(`[0-9]+`)

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// reach connects once; a fatalError is an answer that retrying cannot
// change.
func reach(ctx context.Context, e dbendpoint.Endpoint, files dbendpoint.TLS, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch e.Kind {
	case dbendpoint.Postgres:
		return reachPostgres(ctx, e, files)
	case dbendpoint.MySQL:
		return reachMySQL(ctx, e, files, log)
	case dbendpoint.Etcd:
		return reachEtcd(ctx, e, files)
	}
	return nil
}

// tlsFatal is a TLS failure (a certificate refused either way), else nil.
func tlsFatal(err error) error {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var record tls.RecordHeaderError
	var alert tls.AlertError
	// gRPC (the etcd client) passes a handshake's failure on as text.
	text := err.Error()
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) || errors.As(err, &record) || errors.As(err, &alert) ||
		strings.Contains(text, "x509: ") || strings.Contains(text, "tls: ") {
		return fatalError{fmt.Errorf("TLS: %v; check --datastore-cafile, --datastore-certfile and --datastore-keyfile", err)}
	}
	return nil
}

func reachPostgres(ctx context.Context, e dbendpoint.Endpoint, files dbendpoint.TLS) error {
	u, err := url.Parse(e.URL)
	if err != nil {
		return fatalError{errors.New("not a URL")}
	}
	// The TLS files as kine passes them (its pgsql driver).
	q := u.Query()
	for param, file := range map[string]string{"sslrootcert": files.CAFile, "sslcert": files.CertFile, "sslkey": files.KeyFile} {
		if file != "" && !q.Has(param) {
			q.Set(param, file)
		}
	}
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return fatalError{fmt.Errorf("PostgreSQL settings: %v", redactErr(err, e))}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		var pg *pgconn.PgError
		if errors.As(err, &pg) {
			switch pg.Code {
			case "28P01", "28000":
				return fatalError{fmt.Errorf("PostgreSQL refused user %q: wrong user or password (%s)", cfg.User, pg.Message)}
			case "3D000":
				return fatalError{fmt.Errorf("database %q does not exist; create it first (CREATE DATABASE %s OWNER %s)", cfg.Database, cfg.Database, cfg.User)}
			case "57P03": // starting up
				return err
			}
			return fatalError{fmt.Errorf("PostgreSQL: %s (%s)", pg.Message, pg.Code)}
		}
		if f := tlsFatal(err); f != nil {
			return f
		}
		return redactErr(err, e)
	}
	defer conn.Close(context.Background())
	var text string
	if err := conn.QueryRow(ctx, "SHOW server_version_num").Scan(&text); err != nil {
		return fatalError{fmt.Errorf("PostgreSQL: %v", redactErr(err, e))}
	}
	version, _ := strconv.Atoi(text)
	if version < 130000 {
		return fatalError{fmt.Errorf("PostgreSQL %d.%d is too old; kite needs PostgreSQL 13 or newer", version/10000, version%10000)}
	}
	return nil
}

func reachMySQL(ctx context.Context, e dbendpoint.Endpoint, files dbendpoint.TLS, log *slog.Logger) error {
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(e.URL, "mysql://"))
	if err != nil {
		return fatalError{errors.New("not a MySQL address")}
	}
	if files != (dbendpoint.TLS{}) {
		tc, err := transport.TLSInfo{CertFile: files.CertFile, KeyFile: files.KeyFile, TrustedCAFile: files.CAFile}.ClientConfig()
		if err != nil {
			return fatalError{fmt.Errorf("TLS files: %v", err)}
		}
		cfg.TLS = tc
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return fatalError{fmt.Errorf("MySQL settings: %v", err)}
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		var my *mysql.MySQLError
		if errors.As(err, &my) {
			switch my.Number {
			case 1045:
				return fatalError{fmt.Errorf("MySQL refused user %q: wrong user or password", cfg.User)}
			case 1044:
				return fatalError{fmt.Errorf("user %q may not use database %q; GRANT ALL ON %s.* TO it", cfg.User, cfg.DBName, cfg.DBName)}
			case 1049:
				return fatalError{fmt.Errorf("database %q does not exist; create it first (CREATE DATABASE %s)", cfg.DBName, cfg.DBName)}
			}
			return fatalError{fmt.Errorf("MySQL: %v", my)}
		}
		if f := tlsFatal(err); f != nil {
			return f
		}
		return err
	}
	if err := checkMySQLVersion(version); err != nil {
		return fatalError{err}
	}
	// MariaDB 11.6.2 and later refuse a locking read of a row changed
	// since the transaction began (innodb_snapshot_isolation, on by
	// default); kine retries such a transaction from the start.
	var isolation sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.innodb_snapshot_isolation").Scan(&isolation); err == nil && (isolation.String == "1" || strings.EqualFold(isolation.String, "ON")) {
		log.Info("innodb_snapshot_isolation is on: kine retries a write whose rows changed under it; set it off in the server's settings for fewer retries", "version", version)
	}
	return nil
}

// checkMySQLVersion: MySQL 8 or newer, MariaDB 10.6 or newer.
func checkMySQLVersion(version string) error {
	parts := strings.SplitN(version, ".", 3)
	major, _ := strconv.Atoi(parts[0])
	minor := 0
	if len(parts) > 1 {
		minor, _ = strconv.Atoi(parts[1])
	}
	if strings.Contains(strings.ToLower(version), "mariadb") {
		if major < 10 || (major == 10 && minor < 6) {
			return fmt.Errorf("MariaDB %s is too old; kite needs MariaDB 10.6 or newer", version)
		}
		return nil
	}
	if major < 8 {
		return fmt.Errorf("MySQL %s is too old; kite needs MySQL 8 or newer", version)
	}
	return nil
}

func reachEtcd(ctx context.Context, e dbendpoint.Endpoint, files dbendpoint.TLS) error {
	tc, err := etcdTLS(e, files)
	if err != nil {
		return fatalError{fmt.Errorf("TLS files: %v", err)}
	}
	// A TLS handshake of its own first: through gRPC, a refused
	// certificate is only a timeout (and a warning a second).
	if tc != nil {
		for _, s := range e.Servers {
			if err := probeTLS(ctx, strings.TrimPrefix(s, "https://"), tc); err != nil {
				return err
			}
		}
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: e.Servers, TLS: tc, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer c.Close()
	var last error
	for _, s := range e.Servers {
		if _, err := c.Status(ctx, s); err != nil {
			if f := tlsFatal(err); f != nil {
				return f
			}
			last = err
			continue
		}
		return nil
	}
	return last
}

// etcdTLS is the client TLS for the etcd cluster of e: the files given,
// and the system's CAs for https without them; nil for plain http.
func etcdTLS(e dbendpoint.Endpoint, files dbendpoint.TLS) (*tls.Config, error) {
	if files == (dbendpoint.TLS{}) && !strings.HasPrefix(e.Servers[0], "https") {
		return nil, nil
	}
	return transport.TLSInfo{CertFile: files.CertFile, KeyFile: files.KeyFile, TrustedCAFile: files.CAFile}.ClientConfig()
}

// probeTLS makes a TLS connection to addr: a certificate refused either
// way is a fatalError; a server that does not answer, a plain error. A
// server that wants a client certificate says so after the handshake, so
// a moment is spent reading its answer.
func probeTLS(ctx context.Context, addr string, tc *tls.Config) error {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: tc}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if f := tlsFatal(err); f != nil {
			return f
		}
		return err
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := conn.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
		if f := tlsFatal(err); f != nil {
			return f
		}
	}
	return nil
}

// redactErr drops the endpoint's password from err's text, should a
// driver have quoted its settings.
func redactErr(err error, e dbendpoint.Endpoint) error {
	if u, perr := url.Parse(e.URL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(err.Error(), pw) {
			return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
		}
	}
	return err
}

// WithClient calls fn with an etcd client of the external datastore of o,
// before the server's components run: the etcd cluster itself, or a kine
// of its own on the SQL database, served on a socket beside o.Socket for
// as long as fn runs.
func WithClient(ctx context.Context, o Options, fn func(context.Context, *clientv3.Client) error) error {
	cfg := clientv3.Config{DialTimeout: 10 * time.Second, Logger: zap.NewNop(), Context: ctx}
	switch o.External.Kind {
	case dbendpoint.Etcd:
		cfg.Endpoints = o.External.Servers
		tc, err := etcdTLS(o.External, o.ExternalTLS)
		if err != nil {
			return err
		}
		cfg.TLS = tc
	case dbendpoint.Postgres, dbendpoint.MySQL:
		socket := o.Socket + ".early"
		os.Remove(socket) // left by a kill -9
		defer os.Remove(socket)
		serveCtx, stop := context.WithCancel(ctx)
		wait, err := New(o).(*kine.Kine).Serve(serveCtx, socket)
		if err != nil {
			stop()
			return err
		}
		defer wait()
		defer stop()
		cfg.Endpoints = []string{"unix://" + socket}
	default:
		return fmt.Errorf("no external datastore")
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, c)
}
