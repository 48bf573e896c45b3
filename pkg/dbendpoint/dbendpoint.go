// Package dbendpoint reads --datastore-endpoint: which database a server
// keeps the cluster in, and how to name it in messages without its
// password.
package dbendpoint

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Kind is the sort of datastore an endpoint names.
type Kind string

const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
	MySQL    Kind = "mysql"
	Etcd     Kind = "etcd" // an external etcd cluster, used by the API server directly
)

// Endpoint is a parsed --datastore-endpoint.
type Endpoint struct {
	Kind Kind
	// URL is the endpoint as given (kine's form for the SQL databases);
	// it may hold a password: never log it, log Redacted.
	URL string
	// Path is SQLite's file.
	Path string
	// Servers are etcd's client URLs.
	Servers []string
	// Redacted is URL with its password replaced, for messages.
	Redacted string
}

// TLS are the files a server presents to, and trusts, an external
// datastore with (--datastore-cafile, --datastore-certfile,
// --datastore-keyfile); all optional.
type TLS struct {
	CAFile, CertFile, KeyFile string
}

// Pool bounds a server's connections to a SQL datastore
// (--datastore-max-open-connections, --datastore-max-idle-connections).
// The defaults come from scripts/bench-external's pool table in
// BENCHMARKS.md: fewer open connections cost writes/s, more gain nothing,
// and an unbounded pool lets three servers under load run a database out
// of connections (PostgreSQL allows 100 by default).
type Pool struct {
	MaxOpen, MaxIdle int
}

// MinPostgresConnections is the smallest bound of open connections that
// works on PostgreSQL: kine holds two connections a write there, and two
// more are kept for its own writes (datastore/kine/confirm.go).
const MinPostgresConnections = 4

// DefaultPool is kite's pool for one server.
var DefaultPool = Pool{MaxOpen: 16, MaxIdle: 16}

// Examples, for error messages.
const examples = "postgres://USER:PASSWORD@HOST:5432/DATABASE, mysql://USER:PASSWORD@tcp(HOST:3306)/DATABASE, https://HOST1:2379,https://HOST2:2379 (etcd) or sqlite:///PATH"

// Parse reads an endpoint. Its errors never hold the password.
func Parse(s string) (Endpoint, error) {
	red := mask(s)
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Endpoint{}, fmt.Errorf("--datastore-endpoint %q names no database; give one of %s", red, examples)
	}
	e := Endpoint{URL: s, Redacted: red}
	switch strings.ToLower(scheme) {
	case "sqlite":
		if rest == "" {
			return Endpoint{}, fmt.Errorf("--datastore-endpoint %q names no file; give sqlite:///PATH", red)
		}
		e.Kind, e.Path = SQLite, filepath.Clean(rest)
		if abs, err := filepath.Abs(e.Path); err == nil {
			e.Path = abs
		}
	case "postgres", "postgresql":
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return Endpoint{}, fmt.Errorf("--datastore-endpoint %q is not a PostgreSQL URL; give postgres://USER:PASSWORD@HOST:5432/DATABASE", red)
		}
		e.Kind, e.Redacted = Postgres, u.Redacted()
	case "mysql":
		cfg, err := mysql.ParseDSN(rest)
		if err != nil {
			return Endpoint{}, fmt.Errorf("--datastore-endpoint %q is not a MySQL address; give mysql://USER:PASSWORD@tcp(HOST:3306)/DATABASE", red)
		}
		e.Redacted = s
		if cfg.Passwd != "" {
			e.Redacted = "mysql://" + strings.Replace(rest, cfg.User+":"+cfg.Passwd+"@", cfg.User+":xxxxx@", 1)
		}
		e.Kind = MySQL
	case "http", "https":
		for _, server := range strings.Split(s, ",") {
			u, err := url.Parse(strings.TrimSpace(server))
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
				return Endpoint{}, fmt.Errorf("--datastore-endpoint: %q is not an etcd client URL; give https://HOST:2379, several separated by commas", mask(server))
			}
			if u.User != nil {
				return Endpoint{}, errors.New("--datastore-endpoint: etcd takes client certificates (--datastore-certfile, --datastore-keyfile), not a user in the URL")
			}
			e.Servers = append(e.Servers, u.Scheme+"://"+u.Host)
		}
		e.Kind = Etcd
	default:
		return Endpoint{}, fmt.Errorf("--datastore-endpoint %q: unknown database %q; give one of %s", red, scheme, examples)
	}
	return e, nil
}

// Password is the password in endpoint s, or "" (none, or not parsed).
func Password(s string) string {
	e, err := Parse(s)
	if err != nil {
		return ""
	}
	switch e.Kind {
	case Postgres:
		if u, err := url.Parse(s); err == nil && u.User != nil {
			pw, _ := u.User.Password()
			return pw
		}
	case MySQL:
		if cfg, err := mysql.ParseDSN(strings.TrimPrefix(s, "mysql://")); err == nil {
			return cfg.Passwd
		}
	}
	return ""
}

// mask hides what lies between "://" and the last "@" (user and
// password): a best effort for text that did not parse.
func mask(s string) string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		if i := strings.LastIndex(s, "@"); i >= 0 {
			return "xxxxx" + s[i:]
		}
		return s
	}
	i := strings.LastIndex(rest, "@")
	if i < 0 {
		return s
	}
	return s[:len(s)-len(rest)] + "xxxxx" + rest[i:]
}
