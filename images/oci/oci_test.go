package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readTar(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[hdr.Name] = b
	}
}

func blob(t *testing.T, files map[string][]byte, digest string) []byte {
	t.Helper()
	hexsum := strings.TrimPrefix(digest, "sha256:")
	b, ok := files["blobs/sha256/"+hexsum]
	if !ok {
		t.Fatalf("blob %s missing", digest)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != hexsum {
		t.Fatalf("blob %s does not match its digest", digest)
	}
	return b
}

func testRoot(t *testing.T) string {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "bin", "tool"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.Symlink("tool", filepath.Join(root, "bin", "alias"))
	return root
}

func TestImageLayout(t *testing.T) {
	var out bytes.Buffer
	img := Image{Name: "kite.local/test:1", RootFS: testRoot(t), Entrypoint: []string{"/bin/tool"}, Arch: "arm64"}
	if err := Write(&out, img); err != nil {
		t.Fatal(err)
	}
	files := readTar(t, out.Bytes())
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Fatalf("oci-layout: %q", files["oci-layout"])
	}
	var index Index
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations["io.containerd.image.name"] != "kite.local/test:1" {
		t.Fatalf("index %+v", index)
	}
	var m Manifest
	if err := json.Unmarshal(blob(t, files, index.Manifests[0].Digest), &m); err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := json.Unmarshal(blob(t, files, m.Config.Digest), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != "arm64" || cfg.OS != "linux" || cfg.Config.Entrypoint[0] != "/bin/tool" {
		t.Fatalf("config %+v", cfg)
	}
	layer := blob(t, files, m.Layers[0].Digest)
	gz, err := gzip.NewReader(bytes.NewReader(layer))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(gz)
	if sum := sha256.Sum256(raw); "sha256:"+hex.EncodeToString(sum[:]) != cfg.RootFS.DiffIDs[0] {
		t.Fatal("diff_id is not the digest of the uncompressed layer")
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	seen := map[string]*tar.Header{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[hdr.Name] = hdr
	}
	if h := seen["bin/tool"]; h == nil || h.Mode&0o111 == 0 || h.Uid != 0 {
		t.Fatalf("bin/tool header %+v", h)
	}
	if h := seen["bin/alias"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "tool" {
		t.Fatalf("bin/alias header %+v", h)
	}
}

func TestReproducible(t *testing.T) {
	root := testRoot(t)
	var a, b bytes.Buffer
	img := Image{Name: "kite.local/test:1", RootFS: root}
	if err := Write(&a, img); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(filepath.Join(root, "bin", "tool"), fixedTime, fixedTime)
	if err := Write(&b, img); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same content gave different tarballs")
	}
}

var fixedTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
