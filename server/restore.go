package server

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kite-project/kite/datastore/etcd"
	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/pkg/token"
	"github.com/kite-project/kite/server/bootstrap"
	"github.com/kite-project/kite/server/pki"
)

// restoreSnapshot is kite server --cluster-reset
// --cluster-reset-restore-path FILE: this server's etcd becomes a cluster
// of one holding the snapshot, with the cluster's CAs and keys that the
// snapshot carries (sealed with the server token). Everything is checked
// first (the file whole, the token opens it, the data dir is not another
// cluster's); only then is the old etcd data moved aside, as
// db/etcd.old-<time>, and the snapshot's put in its place.
func restoreSnapshot(cfg config.Server, p pki.PKI, member etcd.Config, log *slog.Logger) error {
	layout := cfg.Layout()
	file := cfg.ClusterResetRestorePath
	fail := func(format string, a ...any) error {
		return fmt.Errorf("--cluster-reset-restore-path %s: "+format+"; nothing was changed", append([]any{file}, a...)...)
	}
	if hasSQLite, err := exists(layout.DBFile()); err != nil || hasSQLite {
		return fail("this data dir keeps a cluster in SQLite (%s); restore the etcd snapshot into a fresh --data-dir", layout.DBFile())
	}
	given, secret, err := restoreToken(cfg)
	if err != nil {
		return fail("%v", err)
	}

	db, cleanup, err := etcd.Unpack(file, layout.ServerDir())
	if err != nil {
		return fail("%v", err)
	}
	defer cleanup()
	sealed, err := etcd.ReadKey(db, bootstrap.Key)
	if err != nil {
		return fail("%v", err)
	}
	if sealed == nil {
		return fail("the snapshot holds no kite bootstrap data (%s): it is not a snapshot of a kite cluster", bootstrap.Key)
	}
	data, err := bootstrap.Open(sealed, secret)
	if errors.Is(err, bootstrap.ErrWrongToken) {
		return fail("the server token does not open the snapshot: it is a snapshot of another cluster, or --token is not this cluster's server token")
	}
	if err != nil {
		return fail("%v", err)
	}
	caHash := token.HashCA([]byte(data.Files[pki.ServerCA+".crt"]))
	if given.CAHash != "" && given.CAHash != caHash {
		return fail("--token pins CA hash %s but the snapshot's cluster CA hashes to %s: the snapshot is of another cluster", given.CAHash, caHash)
	}
	for name, content := range data.Files {
		have, err := os.ReadFile(filepath.Join(p.Dir, name))
		if err == nil && string(have) != content {
			return fail("this data dir belongs to another cluster than the snapshot (its %s differs); restore into a fresh --data-dir", filepath.Join(p.Dir, name))
		}
	}

	if ok, _ := exists(layout.EtcdDir()); ok {
		aside := fmt.Sprintf("%s.old-%s", layout.EtcdDir(), time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(layout.EtcdDir(), aside); err != nil {
			return err
		}
		log.Warn("moved this server's etcd data aside before the restore", "kept", aside)
	}
	if err := etcd.Restore(db, member, log); err != nil {
		return err
	}
	if err := p.WriteShared(data.Files); err != nil {
		return err
	}
	if _, err := token.Ensure(layout.TokenFile(), cfg.Token, caHash, token.ServerUser); err != nil {
		return err
	}
	if data.AgentToken != "" {
		if _, err := token.Ensure(layout.AgentTokenFile(), data.AgentToken, caHash, token.AgentUser); err != nil {
			return err
		}
	}
	return nil
}

// restoreToken is the server token a restore opens the snapshot with:
// --token, else this data dir's token file. Both, if both are there, must
// agree.
func restoreToken(cfg config.Server) (given token.Token, secret string, err error) {
	stored, err := storedToken(cfg)
	if err != nil {
		return token.Token{}, "", err
	}
	if cfg.Token != "" {
		if given, err = token.Parse(cfg.Token); err != nil {
			return token.Token{}, "", fmt.Errorf("--token: %w", err)
		}
		if given.User != "" && given.User != token.ServerUser {
			return token.Token{}, "", errors.New("--token is not a server token (…::server:…); a restore needs the cluster's server token")
		}
		if stored != nil && stored.Password != given.Password {
			return token.Token{}, "", fmt.Errorf("--token differs from this data dir's token (%s)", cfg.Layout().TokenFile())
		}
		return given, given.Password, nil
	}
	if stored == nil {
		return token.Token{}, "", errors.New("the snapshot opens with the cluster's server token: pass it with --token (K10…::server:…, from <data-dir>/server/token on a server of the cluster)")
	}
	return token.Token{}, stored.Password, nil
}

// storedToken is the server token kept in the data dir, or nil if none.
func storedToken(cfg config.Server) (*token.Token, error) {
	b, err := os.ReadFile(cfg.Layout().TokenFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t, err := token.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("token file %s is unreadable: %v", cfg.Layout().TokenFile(), err)
	}
	return &t, nil
}
