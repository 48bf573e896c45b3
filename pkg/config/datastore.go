package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kite-project/kite/pkg/dbendpoint"
)

// DatastoreTLS are the files a server presents to, and trusts, an external
// datastore with.
type DatastoreTLS = dbendpoint.TLS

// Datastore is the parsed --datastore-endpoint (Validate checked it); the
// zero Endpoint when there is none.
func (s *Server) Datastore() dbendpoint.Endpoint {
	e, _ := dbendpoint.Parse(s.DatastoreEndpoint)
	return e
}

// External says whether the cluster is kept outside the data dir: in a
// database or etcd cluster of --datastore-endpoint (not sqlite://).
func (s *Server) External() bool {
	return s.DatastoreEndpoint != "" && s.Datastore().Kind != dbendpoint.SQLite
}

func (s *Server) validateDatastore(add func(string, ...any)) {
	t := &s.DatastoreTLS
	if s.DatastoreEndpoint == "" {
		if *t != (DatastoreTLS{}) {
			add("--datastore-cafile, --datastore-certfile and --datastore-keyfile are for --datastore-endpoint; give it too")
		}
		return
	}
	e, err := dbendpoint.Parse(s.DatastoreEndpoint)
	if err != nil {
		add("%v", err)
		return
	}
	for _, f := range []*string{&t.CAFile, &t.CertFile, &t.KeyFile} {
		if *f != "" {
			if abs, err := filepath.Abs(*f); err == nil {
				*f = abs
			}
		}
	}
	if err := checkTLS(*t); err != nil {
		add("%v", err)
	}
	switch {
	case s.ClusterInit:
		add("--cluster-init and --datastore-endpoint cannot be used together: --cluster-init runs etcd in kite, --datastore-endpoint uses a datastore of yours; give one of them")
	case s.JoinURL != "":
		add("--server and --datastore-endpoint cannot be used together: servers on one external datastore form one control plane by sharing it (and --token); leave out --server")
	case s.ClusterReset:
		add("--cluster-reset is for embedded etcd, not --datastore-endpoint")
	case s.DatastoreRestore != "" && e.Kind != dbendpoint.SQLite:
		add("--datastore-restore restores a SQLite backup; it cannot be used with a %s --datastore-endpoint (use that database's own backups)", e.Kind)
	}
	if p := s.DatastorePool; p.MaxOpen < 0 || p.MaxIdle < 0 {
		add("--datastore-max-open-connections and --datastore-max-idle-connections cannot be negative (0 open: no limit)")
	} else if e.Kind == dbendpoint.Postgres && p.MaxOpen > 0 && p.MaxOpen < dbendpoint.MinPostgresConnections {
		add("--datastore-max-open-connections %d is too few for PostgreSQL: give at least %d (kine holds two connections a write there), or 0 for no limit", p.MaxOpen, dbendpoint.MinPostgresConnections)
	}
	if e.Kind == dbendpoint.SQLite && *t != (DatastoreTLS{}) {
		add("--datastore-cafile, --datastore-certfile and --datastore-keyfile are not for SQLite")
	}
}

// check makes sure the TLS files exist and go together: a certificate
// needs its key, and the key must be the certificate's.
func checkTLS(t DatastoreTLS) error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("--datastore-certfile and --datastore-keyfile go together: give both, or neither")
	}
	if t.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			return fmt.Errorf("--datastore-certfile %s and --datastore-keyfile %s: %v; give a certificate and its own key (PEM)", t.CertFile, t.KeyFile, unwrapPathErr(err))
		}
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return fmt.Errorf("--datastore-cafile %s: %v", t.CAFile, unwrapPathErr(err))
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return fmt.Errorf("--datastore-cafile %s holds no PEM certificate", t.CAFile)
		}
	}
	return nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// DBFile is the SQLite database: sqlite:///PATH of --datastore-endpoint,
// else the data dir's.
func (s *Server) DBFile() string {
	if e := s.Datastore(); e.Kind == dbendpoint.SQLite {
		return e.Path
	}
	return s.Layout().DBFile()
}
