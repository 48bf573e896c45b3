// Package bundle ships the node's helper programs inside kite: runc,
// containerd's runc shim, the CNI plugins and crictl, plus the system
// images (pause, CoreDNS).
//
// The shim is containerd's own small program (agent/bundle/shim: built
// from containerd's module, with one P), not kite: one runs per pod, and a
// kite process would pay the start-up memory of the whole binary in each
// (about 30 MB a pod more).
// scripts/build builds them from the modules pinned in go.mod and puts them
// in assets/; the agent unpacks them once to <data-dir>/data/<hash>/bin,
// where <hash> names exactly this build's contents, so an upgrade of kite
// never runs an old runc and a second start unpacks nothing.
//
// The assets are stored uncompressed (programs as built, image layers as
// plain tar: agent/bundle/rawlayers): the release compresses kite as a
// whole with xz (scripts/release), which finds much more in them that way
// than in each one gzipped on its own — the programs share Go's runtime and
// many libraries with each other and with kite. Unpacking is a copy. The
// embedded pages a first start reads are read-only file pages, unmapped
// with the rest of the executable once start-up is over (pkg/memtrim).
package bundle

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kite-project/kite/pkg/datadir"
)

//go:embed assets
var assets embed.FS

// Programs every node needs in its bin dir, shipped inside kite.
var Programs = []string{"runc", "containerd-shim-runc-v2", "bridge", "host-local", "loopback", "portmap", "crictl"}

// Images are the image tarballs every node imports, unpacked beside the
// bin dir: the pause image (PauseImageName) and CoreDNS, which the coredns
// add-on may schedule on any node.
var Images = []string{"pause.tar", "coredns.tar"}

// PauseImageName is the pod sandbox image, in pause.tar.
const PauseImageName = "kite.local/pause:1"

// Dir is an unpacked bundle.
type Dir struct {
	Root string // <data-dir>/data/<hash>
}

func (d Dir) Bin() string { return filepath.Join(d.Root, "bin") }

// Images returns the paths of the unpacked image tarballs.
func (d Dir) Images() []string {
	var paths []string
	for _, name := range Images {
		paths = append(paths, filepath.Join(d.Root, name))
	}
	return paths
}

// Unpack makes sure this build's programs are in the data dir's
// BundleDir(<hash>). A program found missing or not executable in an
// unpacked bundle (deleted by hand, say) is put back; its path is returned
// in restored.
func Unpack(files datadir.Layout) (d Dir, restored []string, err error) {
	return unpack(files)
}

func unpack(files datadir.Layout) (d Dir, restored []string, err error) {
	if err := check(); err != nil {
		return Dir{}, nil, err
	}
	hash, err := contentHash()
	if err != nil {
		return Dir{}, nil, err
	}
	d = Dir{Root: files.BundleDir(hash)}
	if _, err := os.Stat(filepath.Join(d.Root, ".complete")); err == nil {
		for _, p := range Programs {
			path := filepath.Join(d.Bin(), p)
			if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				continue
			}
			os.Remove(path + ".tmp")
			if err := copyAsset("assets/"+p, path+".tmp", 0o755); err != nil {
				return Dir{}, restored, err
			}
			if err := os.Rename(path+".tmp", path); err != nil {
				return Dir{}, restored, err
			}
			restored = append(restored, path)
		}
		return d, restored, nil
	}
	return d, nil, unpackAll(d.Root)
}

// unpackAll writes the whole bundle to a fresh folder and renames it to
// root, so a crash never leaves a half-written runc at a valid-looking path.
func unpackAll(root string) error {
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(root), ".unpack-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Mkdir(filepath.Join(tmp, "bin"), 0o755); err != nil {
		return err
	}
	for _, p := range Programs {
		if err := copyAsset("assets/"+p, filepath.Join(tmp, "bin", p), 0o755); err != nil {
			return err
		}
	}
	for _, name := range Images {
		if err := copyAsset("assets/"+name, filepath.Join(tmp, name), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return err
	}
	os.RemoveAll(root) // an incomplete earlier attempt
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, root)
}

// check reports a kite built without its node programs (plain `go build`).
func check() error {
	var missing []string
	for _, p := range Programs {
		if _, err := fs.Stat(assets, "assets/"+p); err != nil {
			missing = append(missing, p)
		}
	}
	for _, name := range Images {
		if _, err := fs.Stat(assets, "assets/"+name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("this kite binary was built without its node programs (%s); build it with scripts/build", strings.Join(missing, ", "))
	}
	return nil
}

// contentHash names the bundle by the bytes it ships. scripts/build
// computes it: hashing here would read, and keep resident in kite's memory,
// every embedded byte.
func contentHash() (string, error) {
	b, err := assets.ReadFile("assets/bundle.hash")
	if err != nil {
		return "", fmt.Errorf("this kite binary has no bundle hash; build it with scripts/build")
	}
	return strings.TrimSpace(string(b)), nil
}

func copyAsset(asset, dst string, mode os.FileMode) error {
	f, err := assets.Open(asset)
	if err != nil {
		return err
	}
	defer f.Close()
	return writeFile(dst, f, mode)
}

func writeFile(dst string, r io.Reader, mode os.FileMode) error {
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return fmt.Errorf("unpack %s: %w", filepath.Base(dst), err)
	}
	return out.Close()
}
