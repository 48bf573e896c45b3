package pki

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kite-project/kite/pkg/fileutil"
)

// SharedCAs are the CAs every server of a cluster holds, keys included:
// each server signs its own certificates with them, and every one is
// trusted by the others' clients.
var SharedCAs = []string{ServerCA, ClientCA, RequestHeaderCA, KubeletServingCA, EtcdServerCA, EtcdPeerCA}

// SharedFiles are the names, in the PKI folder, of what a joining server
// receives: each shared CA's certificate and key, and the service-account
// key (a token signed by one server is checked by all).
func SharedFiles() []string {
	var names []string
	for _, ca := range SharedCAs {
		names = append(names, ca+".crt", ca+".key")
	}
	return append(names, ServiceAccountKey)
}

// ReadShared returns the shared files, by name: all of them, but etcd's
// CAs only where this server has them (a server on an external datastore
// has none).
func (p PKI) ReadShared() (map[string]string, error) {
	files := map[string]string{}
	for _, name := range SharedFiles() {
		data, err := os.ReadFile(filepath.Join(p.Dir, name))
		if errors.Is(err, os.ErrNotExist) && !required(name) {
			continue
		}
		if err != nil {
			return nil, err
		}
		files[name] = string(data)
	}
	return files, nil
}

// required says whether every server has the shared file name: all but
// embedded etcd's CAs.
func required(name string) bool {
	for _, ca := range []string{EtcdServerCA, EtcdPeerCA} {
		if name == ca+".crt" || name == ca+".key" {
			return false
		}
	}
	return true
}

// WriteShared writes the shared files a joining server received: all of
// them (etcd's CAs if there are any), and nothing else. A file already there must be the same (a data
// dir of another cluster is refused, with nothing written); keys are 0600.
func (p PKI) WriteShared(files map[string]string) error {
	names := SharedFiles()
	for name, data := range files {
		if !slices.Contains(names, name) {
			return fmt.Errorf("the server sent %q, which is not a shared PKI file", name)
		}
		if strings.HasSuffix(name, ".crt") {
			if _, err := parseCert([]byte(data)); err != nil {
				return fmt.Errorf("the server sent a bad certificate %s: %w", name, err)
			}
		} else if _, err := parseKey([]byte(data)); err != nil {
			return fmt.Errorf("the server sent a bad key %s: %w", name, err)
		}
	}
	for _, name := range names {
		data, ok := files[name]
		if !ok && !required(name) {
			continue
		}
		if !ok {
			return fmt.Errorf("the server did not send %s; is it a kite server of the same version?", name)
		}
		have, err := os.ReadFile(filepath.Join(p.Dir, name))
		if err == nil && !bytes.Equal(have, []byte(data)) {
			return fmt.Errorf("%s is not the cluster's: this data dir belongs to another cluster; give the joining server a fresh --data-dir", filepath.Join(p.Dir, name))
		}
	}
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return err
	}
	for _, name := range names {
		if _, ok := files[name]; !ok {
			continue
		}
		mode := os.FileMode(certMode)
		if !strings.HasSuffix(name, ".crt") {
			mode = keyMode
		}
		if err := fileutil.WriteAtomic(filepath.Join(p.Dir, name), []byte(files[name]), mode); err != nil {
			return err
		}
	}
	return nil
}
