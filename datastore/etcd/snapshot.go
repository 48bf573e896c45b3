package etcd

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"google.golang.org/protobuf/proto"

	"github.com/kite-project/kite/pkg/logging"
)

// A snapshot file is what etcd's Maintenance.Snapshot streams: its bbolt
// database followed by the database's SHA-256, so that a truncated or
// damaged file is found before a restore. Compressed, it is that stream
// in gzip.

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// Save writes a snapshot of the cluster, read through c, to path (0600),
// gzip'd when compress. The file appears whole or not at all.
func Save(ctx context.Context, c *clientv3.Client, path string, compress bool) (err error) {
	stream, err := c.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("etcd snapshot: %w", err)
	}
	defer stream.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*") // 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	buf := bufio.NewWriterSize(tmp, 1<<20)
	var w io.Writer = buf
	var gz *gzip.Writer
	if compress {
		gz, _ = gzip.NewWriterLevel(buf, gzip.BestSpeed) // the level is valid
		w = gz
	}
	n, err := io.Copy(w, stream)
	if err != nil {
		return fmt.Errorf("etcd snapshot: %w", err)
	}
	if !hasChecksum(n) {
		return fmt.Errorf("etcd snapshot: etcd sent %d bytes, not a database and its checksum", n)
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return err
		}
	}
	if err := buf.Flush(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// hasChecksum says whether a snapshot of n bytes ends with its database's
// SHA-256: bbolt's databases are whole pages, multiples of 512 bytes.
func hasChecksum(n int64) bool { return n%512 == sha256.Size }

// Unpack checks that file is a whole snapshot, gzip'd or not, and returns
// the path of its database with the checksum at the end, as a restore
// reads it: file itself, or a copy in tmpDir that cleanup removes. It
// changes nothing else.
func Unpack(file, tmpDir string) (db string, cleanup func(), err error) {
	f, err := os.Open(file)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	head := make([]byte, 2)
	if _, err := io.ReadFull(f, head); err != nil {
		return "", nil, fmt.Errorf("%s is not an etcd snapshot: it is empty or too short", file)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", nil, err
	}
	if !bytes.Equal(head, gzipMagic) {
		if err := verify(f); err != nil {
			return "", nil, fmt.Errorf("%s is not a whole etcd snapshot: %w", file, err)
		}
		return file, func() {}, nil
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return "", nil, fmt.Errorf("%s is not a whole etcd snapshot: %w", file, err)
	}
	tmp, err := os.CreateTemp(tmpDir, ".restore-*.db")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.Remove(tmp.Name()) }
	fail := func(err error) (string, func(), error) {
		tmp.Close()
		cleanup()
		return "", nil, err
	}
	if _, err := io.Copy(tmp, zr); err != nil {
		return fail(fmt.Errorf("%s is not a whole etcd snapshot: %w", file, err))
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	if err := verify(tmp); err != nil {
		return fail(fmt.Errorf("%s is not a whole etcd snapshot: %w", file, err))
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	return tmp.Name(), cleanup, nil
}

// verify reads a database and its checksum from f and compares them.
func verify(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	n := st.Size()
	if !hasChecksum(n) {
		return fmt.Errorf("its size (%d bytes) is not that of a database and its checksum: truncated?", n)
	}
	h := sha256.New()
	r := bufio.NewReaderSize(f, 1<<20)
	if _, err := io.CopyN(h, r, n-sha256.Size); err != nil {
		return err
	}
	sum := make([]byte, sha256.Size)
	if _, err := io.ReadFull(r, sum); err != nil {
		return err
	}
	if !bytes.Equal(sum, h.Sum(nil)) {
		return errors.New("its checksum does not match its content: damaged")
	}
	return nil
}

// ReadKey returns the value of key in a snapshot's database (from
// Unpack), as it was when the snapshot was taken, or nil if it had none.
func ReadKey(db, key string) ([]byte, error) {
	b, err := bolt.Open(db, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open the snapshot's database: %w", err)
	}
	defer b.Close()
	var value []byte
	want := []byte(key)
	err = b.View(func(tx *bolt.Tx) error {
		keys := tx.Bucket([]byte("key"))
		if keys == nil {
			return errors.New("the snapshot's database has no keys: not an etcd database")
		}
		// Revisions in order: the last one of key is its value then; a
		// tombstone (a revision key ending in 't') is a delete.
		return keys.ForEach(func(rev, v []byte) error {
			if !bytes.Contains(v, want) {
				return nil
			}
			var kv mvccpb.KeyValue
			if err := proto.Unmarshal(v, &kv); err != nil {
				return fmt.Errorf("the snapshot's database holds a bad key: %w", err)
			}
			if !bytes.Equal(kv.Key, want) {
				return nil
			}
			if mvcc.IsTombstone(rev) {
				value = nil
			} else {
				value = bytes.Clone(kv.Value)
			}
			return nil
		})
	})
	return value, err
}

// Restore makes c's data dir (which must not exist) a one-member cluster
// holding the snapshot's database db (from Unpack), under a new member
// name (kept in c.NameFile). Its revisions move on by a
// billion, all marked compacted, so that clients that watched the old
// cluster relist instead of waiting for revisions that were lost.
func Restore(db string, c Config, log *slog.Logger) error {
	if c.PeerPort == 0 {
		c.PeerPort = DefaultPeerPort
	}
	name, err := NewMemberName(c.NamePrefix)
	if err != nil {
		return err
	}
	peer := PeerURL(c.IP, c.PeerPort)
	restore := snapshot.NewV3(logging.Zap(logging.Component(log, "etcd")))
	err = restore.Restore(snapshot.RestoreConfig{
		SnapshotPath:        db,
		Name:                name,
		OutputDataDir:       c.Dir,
		PeerURLs:            []string{peer},
		InitialCluster:      name + "=" + peer,
		InitialClusterToken: embed.NewConfig().InitialClusterToken,
		RevisionBump:        1_000_000_000,
		MarkCompacted:       true,
	})
	if err != nil {
		return fmt.Errorf("restore the snapshot into %s: %w", c.Dir, err)
	}
	return WriteMemberName(c.NameFile, name)
}
