package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kite-project/kite/datastore"
	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/pkg/token"
	"github.com/kite-project/kite/server/bootstrap"
	"github.com/kite-project/kite/server/pki"
)

// shareKeysViaDatastore makes the servers of one external datastore one
// control plane, without --server: the first server to start makes the
// cluster's CAs and keys and stores them in the datastore, sealed with the
// server token (server/bootstrap); every other server takes them from
// there, and so must be given the same --token. Two first servers at once
// are settled by the datastore: one store wins, the other takes its keys.
func shareKeysViaDatastore(ctx context.Context, cfg *config.Server, p pki.PKI, sans pki.SANs, o datastore.Options, log *slog.Logger) error {
	secret, err := serverSecret(cfg)
	if err != nil {
		return err
	}
	return datastore.WithClient(ctx, o, func(ctx context.Context, c *clientv3.Client) error {
		for range 3 {
			resp, err := c.Get(ctx, bootstrap.Key)
			if err != nil {
				return fmt.Errorf("read the cluster's keys from the datastore: %w", err)
			}
			if len(resp.Kvs) == 1 {
				return takeKeys(cfg, p, resp.Kvs[0].Value, secret, log)
			}
			hadCA, err := exists(p.Cert(pki.ServerCA))
			if err != nil {
				return err
			}
			if err := p.Ensure(sans, time.Now()); err != nil {
				return fmt.Errorf("server PKI: %w", err)
			}
			data, err := bootstrap.Read(p, cfg.Layout().AgentTokenFile())
			if err != nil {
				return err
			}
			if cfg.AgentToken != "" {
				data.AgentToken = cfg.AgentToken
			}
			sealed, err := bootstrap.Seal(data, secret)
			if err != nil {
				return err
			}
			// A create as the API server makes them: the one transaction
			// shape kine and etcd both take.
			put, err := c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(bootstrap.Key), "=", 0)).
				Then(clientv3.OpPut(bootstrap.Key, string(sealed))).Else(clientv3.OpGet(bootstrap.Key)).Commit()
			if err != nil {
				return fmt.Errorf("store the cluster's keys in the datastore: %w", err)
			}
			if put.Succeeded {
				log.Info("first server on this datastore: made the cluster's CAs and keys and stored them there, sealed with the server token; start the other servers with the same --token", "datastore", o.External.Redacted)
				return nil
			}
			// Another server stored its keys first: drop the CAs made
			// here just now, and take its.
			if !hadCA {
				for _, name := range pki.SharedFiles() {
					if err := os.Remove(filepath.Join(p.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
						return err
					}
				}
			}
		}
		return errors.New("the cluster's keys in the datastore keep changing; is another program writing " + bootstrap.Key + "?")
	})
}

// takeKeys writes the cluster's shared CAs and keys found in the
// datastore, and adopts its agent token.
func takeKeys(cfg *config.Server, p pki.PKI, sealed []byte, secret string, log *slog.Logger) error {
	data, err := bootstrap.Open(sealed, secret)
	if errors.Is(err, bootstrap.ErrWrongToken) {
		return errors.New("the datastore holds a cluster whose keys do not open with this server's token: give every server of one datastore the same --token (the first server's, in its <data-dir>/server/token); nothing was written")
	}
	if err != nil {
		return err
	}
	if err := p.WriteShared(data.Files); err != nil {
		return err
	}
	if cfg.AgentToken == "" {
		cfg.AgentToken = data.AgentToken
	}
	log.Info("took the cluster's CAs and keys from the datastore")
	return nil
}

// serverSecret is the server token's secret: --token's, else the data
// dir's token file's, else a new one (then kept as --token, which the
// token file gets).
func serverSecret(cfg *config.Server) (string, error) {
	if cfg.Token != "" {
		t, err := token.Parse(cfg.Token)
		if err != nil {
			return "", fmt.Errorf("--token: %w", err)
		}
		return t.Password, nil
	}
	stored, err := storedToken(*cfg)
	if err != nil {
		return "", err
	}
	if stored != nil {
		return stored.Password, nil
	}
	secret, err := token.Generate()
	if err != nil {
		return "", err
	}
	cfg.Token = secret
	return secret, nil
}
