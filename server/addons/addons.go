// Package addons writes the packaged add-ons' manifests into the manifests
// folder, from templates inside kite (rendered with the cluster's
// settings), where the manifests component applies them. A user can read
// each one, keep kite from touching it with NAME.yaml.skip, or leave it
// out with --disable NAME, which also removes it (the manifests component
// then deletes its objects).
package addons

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/kite-project/kite/pkg/fileutil"
)

//go:embed templates/*.yaml
var templates embed.FS

// Settings are what templates may use.
type Settings struct {
	ClusterDNS    string
	ClusterDomain string
	ClusterCIDR   string
	ServiceCIDR   string
}

// Names lists the packaged add-ons that have a manifest.
func Names() []string {
	entries, _ := templates.ReadDir("templates")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return names
}

// Write renders every add-on into dir, except the disabled ones, whose
// files it removes, and those with a NAME.yaml.skip file, which it leaves
// alone. A file is rewritten only when its content changes.
func Write(dir string, s Settings, disabled func(name string) bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, name := range Names() {
		path := filepath.Join(dir, name+".yaml")
		if _, err := os.Stat(path + ".skip"); err == nil {
			continue
		}
		if disabled(name) {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			continue
		}
		text, err := templates.ReadFile("templates/" + name + ".yaml")
		if err != nil {
			return err
		}
		t, err := template.New(name).Option("missingkey=error").Parse(string(text))
		if err != nil {
			return fmt.Errorf("add-on %s: %w", name, err)
		}
		var out bytes.Buffer
		if err := t.Execute(&out, s); err != nil {
			return fmt.Errorf("add-on %s: %w", name, err)
		}
		if _, err := fileutil.WriteIfChanged(path, out.Bytes(), 0o600); err != nil {
			return err
		}
	}
	return nil
}
