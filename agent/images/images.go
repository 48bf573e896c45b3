// Package images loads container images into the node's containerd without
// a registry: the system images kite ships (pause, CoreDNS), and every *.tar in
// <data-dir>/agent/images (the airgap folder). A tarball already imported,
// unchanged since, is skipped on the next start.
package images

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/platforms"

	"github.com/kite-project/kite/pkg/fileutil"
)

// Namespace is the containerd namespace the CRI plugin, and so the
// kubelet, uses.
const Namespace = "k8s.io"

// Importer is the image loading component.
type Importer struct {
	Socket   string   // containerd's
	Tarballs []string // always imported (the pause image)
	Dir      string   // airgap folder: every *.tar in it
	Record   string   // what was imported (pkg/datadir's ImagesRecord)
	Log      *slog.Logger

	done chan struct{}
}

func (im *Importer) Name() string { return "image import" }

func (im *Importer) Prepare(context.Context) error {
	im.done = make(chan struct{})
	return os.MkdirAll(im.Dir, 0o755)
}

func (im *Importer) Run(ctx context.Context) error {
	err := im.importAll(ctx)
	close(im.done)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func (im *Importer) Ready(ctx context.Context) error {
	select {
	case <-im.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// importAll imports what changed. A tarball that fails is reported and
// skipped: the node works on without it. Only the shipped tarballs (the
// system images) are required.
func (im *Importer) importAll(ctx context.Context) error {
	cl, err := client.New(im.Socket, client.WithDefaultNamespace(Namespace))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx = namespaces.WithNamespace(ctx, Namespace)

	record := map[string]string{}
	if data, err := os.ReadFile(im.Record); err == nil {
		json.Unmarshal(data, &record)
	}
	airgap, _ := filepath.Glob(filepath.Join(im.Dir, "*.tar"))
	sort.Strings(airgap)
	for i, path := range append(append([]string{}, im.Tarballs...), airgap...) {
		required := i < len(im.Tarballs)
		key, err := stamp(path)
		if err != nil {
			if required {
				return err
			}
			im.Log.Error("cannot read image tarball; skipped", "file", path, "err", err)
			continue
		}
		if record[path] == key {
			continue
		}
		names, err := importTarball(ctx, cl, path)
		if err != nil {
			err = fmt.Errorf("image tarball %s could not be imported: %w; it must be an OCI or docker image archive (e.g. from `ctr images export` or `docker save`)", path, err)
			if required {
				return err
			}
			im.Log.Error(err.Error())
			continue
		}
		im.Log.Info("imported images", "file", path, "images", strings.Join(names, ","))
		record[path] = key
	}
	data, _ := json.MarshalIndent(record, "", "  ")
	_, err = fileutil.WriteIfChanged(im.Record, data, 0o644)
	return err
}

// stamp identifies a tarball's version cheaply: size and modification time.
func stamp(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d-%d", st.Size(), st.ModTime().UnixNano()), nil
}

func importTarball(ctx context.Context, cl *client.Client, path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ctx, done, err := cl.WithLease(ctx)
	if err != nil {
		return nil, err
	}
	defer done(ctx)
	imgs, err := cl.Import(ctx, f, client.WithImportPlatform(platforms.Default()))
	if err != nil {
		return nil, err
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("it holds no named image")
	}
	var names []string
	for _, img := range imgs {
		image := client.NewImageWithPlatform(cl, img, platforms.DefaultStrict())
		if err := image.Unpack(ctx, ""); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", img.Name, err)
		}
		names = append(names, img.Name)
	}
	return names, nil
}
