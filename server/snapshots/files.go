// Package snapshots keeps a server's etcd snapshots: files in one folder
// (kite etcd-snapshot save, ls, delete, prune; and scheduled ones), and
// their listing in the API as ETCDSnapshotFile objects, so that kubectl
// shows every server's snapshots.
package snapshots

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kite-project/kite/datastore/etcd"
)

// Names of snapshots: <name>-<node>-<unix seconds>, and .gz when
// compressed, as K3s names them.
const (
	ScheduledName = "etcd-snapshot" // the scheduled snapshots' and prune's default
	OnDemandName  = "on-demand"     // kite etcd-snapshot save's default
	compressedExt = ".gz"
)

// validName is what --name may be: it starts file and object names.
var validName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// CheckName says what is wrong with a snapshot name given with --name.
func CheckName(name string) error {
	if len(name) > 100 || !validName.MatchString(name) {
		return fmt.Errorf("--name %q: a snapshot name is lower-case letters, digits and '-' (at most 100), e.g. %s", name, OnDemandName)
	}
	return nil
}

// fileName matches a snapshot's file name; its groups are the name with
// the node, and the time.
var fileName = regexp.MustCompile(`^([a-z0-9][-a-z0-9.]*)-([0-9]{9,11})(\.gz)?$`)

// File is one snapshot on this server.
type File struct {
	Name       string // the file name, which kite etcd-snapshot delete takes
	Path       string
	Size       int64
	Created    time.Time
	Compressed bool
}

// Save takes a snapshot through c into dir (made 0700 if missing), named
// after name, the node and the time, and returns it.
func Save(ctx context.Context, c *clientv3.Client, dir, name, node string, compress bool, now time.Time) (File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return File{}, fmt.Errorf("snapshot dir: %w", err)
	}
	file := fmt.Sprintf("%s-%s-%d", name, node, now.Unix())
	if compress {
		file += compressedExt
	}
	path := filepath.Join(dir, file)
	if _, err := os.Stat(path); err == nil {
		return File{}, fmt.Errorf("snapshot %s exists already; wait a second, or give another --name", path)
	}
	if err := etcd.Save(ctx, c, path, compress); err != nil {
		return File{}, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return File{}, err
	}
	return File{Name: file, Path: path, Size: st.Size(), Created: now, Compressed: compress}, nil
}

// List returns the snapshots in dir, oldest first; a missing dir has none.
func List(dir string) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var files []File
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		secs, _ := strconv.ParseInt(m[2], 10, 64)
		files = append(files, File{Name: e.Name(), Path: filepath.Join(dir, e.Name()), Size: info.Size(),
			Created: time.Unix(secs, 0), Compressed: m[3] != ""})
	}
	slices.SortFunc(files, func(a, b File) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return files, nil
}

// Delete removes the named snapshots from dir. Every name must be a
// snapshot there; if one is not, none is removed.
func Delete(dir string, names ...string) error {
	files, err := List(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !slices.ContainsFunc(files, func(f File) bool { return f.Name == n }) {
			return fmt.Errorf("no snapshot %q in %s; see 'kite etcd-snapshot ls'", n, dir)
		}
	}
	for _, n := range names {
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	return nil
}

// Prune removes the oldest snapshots named name-<node>-… beyond the
// newest keep, and returns what it removed.
func Prune(dir, name, node string, keep int) ([]string, error) {
	files, err := List(dir)
	if err != nil {
		return nil, err
	}
	prefix := name + "-" + node + "-"
	files = slices.DeleteFunc(files, func(f File) bool {
		m := fileName.FindStringSubmatch(f.Name)
		return m[1]+"-" != prefix
	})
	var removed []string
	for len(files) > keep {
		if err := os.Remove(files[0].Path); err != nil {
			return removed, err
		}
		removed = append(removed, files[0].Name)
		files = files[1:]
	}
	return removed, nil
}
