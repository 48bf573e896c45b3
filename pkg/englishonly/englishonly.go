// Package englishonly spares kite's processes other than kubectl the
// loading of kubectl's message catalogue.
//
// kubectl's packages translate their help texts in package-level variables,
// and the first translation parses the embedded catalogue (about 4 MB of
// allocations, for English the same words back). Every kite process links
// those packages and runs their init(), the API server and each pod's shim
// included. This package must be initialised before them: Go initialises,
// among the packages whose imports are ready, the first by import path, and
// "github.com/kite-project/..." sorts before "k8s.io/kubectl/...", which
// import the i18n package as this one does.
package englishonly

import (
	"os"
	"path/filepath"
	"slices"

	"k8s.io/kubectl/pkg/util/i18n"
)

func init() {
	if !IsKubectl(os.Args) {
		// Messages keep their English text; no catalogue is read.
		i18n.SetLoadTranslationsFunc(func() error { return nil })
	}
}

// IsKubectl reports whether the command line runs kubectl (the kubectl
// link, or `kite kubectl …` with or without flags before the command),
// which keeps its translations.
func IsKubectl(args []string) bool {
	if len(args) == 0 {
		return false
	}
	return filepath.Base(args[0]) == "kubectl" || slices.Contains(args[1:], "kubectl")
}
