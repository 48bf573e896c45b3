// Package bootstrap is what a restore needs besides the datastore: the
// cluster's shared CAs and keys and its agent token. Sealed with the
// server token, it is kept in etcd under Key, so that every snapshot
// carries it and a fresh machine restores a snapshot with the token alone.
package bootstrap

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kite-project/kite/server/pki"
)

// Key is where the sealed data lives in etcd, beside the API server's
// /registry.
const Key = "/kite/bootstrap"

// Data is what a server restoring a snapshot on a fresh machine needs.
type Data struct {
	// Files are the shared PKI files, by name (pki.SharedFiles).
	Files map[string]string `json:"files"`
	// AgentToken is the agent token, in full, if the cluster has one.
	AgentToken string `json:"agentToken,omitempty"`
}

// Equal says whether d and o hold the same.
func (d Data) Equal(o Data) bool {
	return d.AgentToken == o.AgentToken && maps.Equal(d.Files, o.Files)
}

// ErrWrongToken: the sealed data does not open with the token given.
var ErrWrongToken = errors.New("the server token does not open the cluster's bootstrap data: the token is not this cluster's server token")

// sealed is the stored form: a key is derived from the token's secret
// with PBKDF2 (a random salt, many rounds: the secret may be one a person
// chose), and the data is encrypted and authenticated with AES-GCM.
type sealed struct {
	Version int    `json:"version"`
	Rounds  int    `json:"rounds"`
	Salt    []byte `json:"salt"`
	Nonce   []byte `json:"nonce"`
	Data    []byte `json:"data"`
}

const (
	version = 1
	rounds  = 200_000
)

// Seal encrypts d with the server token's secret.
func Seal(d Data, secret string) ([]byte, error) {
	plain, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	s := sealed{Version: version, Rounds: rounds, Salt: make([]byte, 16)}
	if _, err := rand.Read(s.Salt); err != nil {
		return nil, err
	}
	aead, err := newAEAD(secret, s.Salt, s.Rounds)
	if err != nil {
		return nil, err
	}
	s.Nonce = make([]byte, aead.NonceSize())
	if _, err := rand.Read(s.Nonce); err != nil {
		return nil, err
	}
	s.Data = aead.Seal(nil, s.Nonce, plain, []byte(Key))
	return json.Marshal(s)
}

// Open decrypts what Seal made; a wrong secret is ErrWrongToken.
func Open(data []byte, secret string) (Data, error) {
	var s sealed
	if err := json.Unmarshal(data, &s); err != nil || s.Version != version {
		return Data{}, fmt.Errorf("the cluster's bootstrap data is not of a form this kite reads (version %d)", s.Version)
	}
	if s.Rounds < 1 || s.Rounds > 10*rounds {
		return Data{}, fmt.Errorf("the cluster's bootstrap data names %d key rounds; damaged", s.Rounds)
	}
	aead, err := newAEAD(secret, s.Salt, s.Rounds)
	if err != nil {
		return Data{}, err
	}
	if len(s.Nonce) != aead.NonceSize() {
		return Data{}, errors.New("the cluster's bootstrap data is damaged (nonce)")
	}
	plain, err := aead.Open(nil, s.Nonce, s.Data, []byte(Key))
	if err != nil {
		return Data{}, ErrWrongToken
	}
	var d Data
	if err := json.Unmarshal(plain, &d); err != nil {
		return Data{}, fmt.Errorf("the cluster's bootstrap data: %w", err)
	}
	return d, nil
}

func newAEAD(secret string, salt []byte, rounds int) (cipher.AEAD, error) {
	if secret == "" {
		return nil, errors.New("no server token to seal the bootstrap data with")
	}
	key, err := pbkdf2.Key(sha256.New, secret, salt, rounds, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Read gathers this server's Data: its shared PKI files and the agent
// token file, if there is one.
func Read(p pki.PKI, agentTokenFile string) (Data, error) {
	files, err := p.ReadShared()
	if err != nil {
		return Data{}, err
	}
	d := Data{Files: files}
	b, err := os.ReadFile(agentTokenFile)
	switch {
	case err == nil:
		d.AgentToken = strings.TrimSpace(string(b))
	case !errors.Is(err, os.ErrNotExist):
		return Data{}, err
	}
	return d, nil
}

// Keeper keeps the sealed Data in etcd up to date: a component of a server
// on embedded etcd, started after the datastore. Every server writes the
// same data; one write at start is all it takes.
type Keeper struct {
	Client func() *clientv3.Client
	Data   func() (Data, error)
	Secret string
	Log    *slog.Logger

	settled chan struct{}
}

func (k *Keeper) Name() string { return "bootstrap data" }
func (k *Keeper) Prepare(context.Context) error {
	k.settled = make(chan struct{})
	return nil
}
func (k *Keeper) Ready(context.Context) error { return nil }

// Settled starts the work: its key derivation costs a CPU for a moment,
// which start-up should not share.
func (k *Keeper) Settled() { close(k.settled) }

func (k *Keeper) Run(ctx context.Context) error {
	select {
	case <-k.settled:
	case <-ctx.Done():
		return nil
	}
	for {
		err := k.keep(ctx)
		if err == nil {
			break
		}
		k.Log.Warn("cannot store the cluster's bootstrap data in etcd (snapshots need it to restore on a new machine); retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Second):
		}
	}
	<-ctx.Done()
	return nil
}

// keep writes the sealed data unless etcd holds the same already.
func (k *Keeper) keep(ctx context.Context) error {
	d, err := k.Data()
	if err != nil {
		return err
	}
	c := k.Client()
	resp, err := c.Get(ctx, Key)
	if err != nil {
		return err
	}
	if len(resp.Kvs) == 1 {
		have, err := Open(resp.Kvs[0].Value, k.Secret)
		if err == nil && have.Equal(d) {
			return nil
		}
		if errors.Is(err, ErrWrongToken) {
			k.Log.Warn("the cluster's bootstrap data in etcd was sealed with another server token; sealing it again with this server's")
		}
	}
	value, err := Seal(d, k.Secret)
	if err != nil {
		return err
	}
	if _, err := c.Put(ctx, Key, string(value)); err != nil {
		return err
	}
	k.Log.Info("stored the cluster's bootstrap data in etcd, sealed with the server token", "key", Key)
	return nil
}
