// Command rawlayers rewrites an OCI image layout tarball (as images/mkimage
// writes it) with its gzip layers stored uncompressed, for kite's bundle.
//
//	rawlayers IN.tar OUT.tar
//
// kite is released compressed as a whole (scripts/release: xz), and the
// compressor finds far more in an uncompressed layer than in one gzip
// already squeezed: CoreDNS's 55 MB layer is 16.5 MB with gzip, and adds
// ~7 MB to the xz-compressed release uncompressed (BENCHMARKS.md, "Download
// size"). containerd imports a layer of media type
// application/vnd.oci.image.layer.v1.tar as well as a gzip one; the config
// (its diff_ids name the uncompressed layers) is unchanged, the manifest
// and the index name the new blobs. The output depends on the input alone.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kite-project/kite/images/oci"
)

const (
	mediaLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
	mediaLayerTar  = "application/vnd.oci.image.layer.v1.tar"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: rawlayers IN.tar OUT.tar")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "rawlayers:", err)
		os.Exit(1)
	}
}

type entry struct {
	name string
	data []byte
}

func run(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	var entries []entry
	blobs := map[string][]byte{} // digest -> content
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
		entries = append(entries, entry{hdr.Name, data})
		if d, ok := strings.CutPrefix(hdr.Name, "blobs/sha256/"); ok {
			blobs["sha256:"+d] = data
		}
	}
	var index oci.Index
	var indexData []byte
	for _, e := range entries {
		if e.name == "index.json" {
			indexData = e.data
		}
	}
	if indexData == nil {
		return fmt.Errorf("%s: no index.json", in)
	}
	if err := json.Unmarshal(indexData, &index); err != nil {
		return fmt.Errorf("%s: index.json: %w", in, err)
	}

	replaced := map[string]entry{} // old blob name -> new blob
	for i, md := range index.Manifests {
		var m oci.Manifest
		if err := json.Unmarshal(blobs[md.Digest], &m); err != nil {
			return fmt.Errorf("%s: manifest %s: %w", in, md.Digest, err)
		}
		for j, l := range m.Layers {
			if l.MediaType != mediaLayerGzip {
				continue
			}
			zr, err := gzip.NewReader(bytes.NewReader(blobs[l.Digest]))
			if err != nil {
				return fmt.Errorf("%s: layer %s: %w", in, l.Digest, err)
			}
			raw, err := io.ReadAll(zr)
			if err != nil {
				return fmt.Errorf("%s: layer %s: %w", in, l.Digest, err)
			}
			replaced[blobName(l.Digest)] = entry{blobName(digest(raw)), raw}
			m.Layers[j] = oci.Descriptor{MediaType: mediaLayerTar, Digest: digest(raw), Size: int64(len(raw)), Annotations: l.Annotations}
		}
		mj, err := json.Marshal(m)
		if err != nil {
			return err
		}
		replaced[blobName(md.Digest)] = entry{blobName(digest(mj)), mj}
		index.Manifests[i].Digest, index.Manifests[i].Size = digest(mj), int64(len(mj))
	}
	ij, err := json.Marshal(index)
	if err != nil {
		return err
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if r, ok := replaced[e.name]; ok {
			e = r
		}
		if e.name == "index.json" {
			e.data = ij
		}
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobName(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }
