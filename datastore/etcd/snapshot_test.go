package etcd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
)

// startPlain starts a real one-member etcd on dir, without TLS (the
// snapshot code never sees the transport), and returns its in-process
// client.
func startPlain(t *testing.T, dir string) *clientv3.Client {
	t.Helper()
	free := func() url.URL {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return url.URL{Scheme: "http", Host: l.Addr().String()}
	}
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.Name = "test"
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client, peer := free(), free()
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = "test=" + peer.String()
	if _, err := os.Stat(filepath.Join(dir, "member")); err == nil {
		// A restored data dir: its member is named and placed by Restore.
		name, err := os.ReadFile(filepath.Join(dir, "name"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Name = strings.TrimSpace(string(name))
		cfg.InitialCluster = ""
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(time.Minute):
		t.Fatal("etcd did not start")
	}
	c := v3client.New(e.Server)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSnapshotSaveRestore: a snapshot taken of a live etcd, gzip'd or not,
// is whole, gives back one key as it was then (not after), and restores
// into a data dir where etcd starts with every key.
func TestSnapshotSaveRestore(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			ctx := context.Background()
			tmp := t.TempDir()
			c := startPlain(t, filepath.Join(tmp, "live"))
			for i := range 200 {
				if _, err := c.Put(ctx, fmt.Sprintf("/registry/cm/%03d", i), strings.Repeat("x", i)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.Put(ctx, "/kite/bootstrap", "old"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Put(ctx, "/kite/bootstrap", "sealed"); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(tmp, "snap")
			if err := Save(ctx, c, file, compress); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Put(ctx, "/kite/bootstrap", "after the snapshot"); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("snapshot mode %v, want 0600", st.Mode().Perm())
			}

			db, cleanup, err := Unpack(file, tmp)
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup()
			v, err := ReadKey(db, "/kite/bootstrap")
			if err != nil || string(v) != "sealed" {
				t.Fatalf("ReadKey = %q, %v; want the value at the snapshot", v, err)
			}
			if v, err := ReadKey(db, "/absent"); err != nil || v != nil {
				t.Fatalf("ReadKey of an absent key = %q, %v", v, err)
			}

			restored := filepath.Join(tmp, "restored")
			conf := Config{Dir: restored, NameFile: filepath.Join(restored, "name"), NamePrefix: "node", IP: net.IPv4(127, 0, 0, 1), PeerPort: 1}
			if err := Restore(db, conf, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			r := startPlain(t, restored)
			resp, err := r.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil || resp.Count != 200 {
				t.Fatalf("restored etcd has %v keys (%v), want 200", resp, err)
			}
			got, err := r.Get(ctx, "/kite/bootstrap")
			if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "sealed" {
				t.Fatalf("restored /kite/bootstrap = %v, %v", got, err)
			}
			if got.Header.Revision < 1_000_000_000 {
				t.Errorf("restored revision %d: want it moved on past the old cluster's", got.Header.Revision)
			}
		})
	}
}

// TestUnpackRefusesDamage: a truncated, damaged or foreign file is
// refused before a restore, with the reason.
func TestUnpackRefusesDamage(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	c := startPlain(t, filepath.Join(tmp, "live"))
	if _, err := c.Put(ctx, "/k", "v"); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(tmp, "good")
	if err := Save(ctx, c, good, false); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(tmp, "good.gz")
	if err := Save(ctx, c, gz, true); err != nil {
		t.Fatal(err)
	}
	gzData, err := os.ReadFile(gz)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)/2] ^= 0xff
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":          {nil, "too short"},
		"truncated":      {data[:len(data)-4096], "truncated"},
		"damaged":        {flipped, "damaged"},
		"text":           {[]byte(strings.Repeat("not a snapshot\n", 100)), "truncated"},
		"gzip truncated": {gzData[:len(gzData)/2], "not a whole etcd snapshot"},
	} {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(tmp, strings.ReplaceAll(name, " ", "-"))
			if err := os.WriteFile(f, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := Unpack(f, tmp)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Unpack = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	left, _ := filepath.Glob(filepath.Join(tmp, ".restore-*"))
	if len(left) > 0 {
		t.Errorf("Unpack left %v behind", left)
	}
}
