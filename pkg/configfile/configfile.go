// Package configfile reads kite's config file, /etc/kite/config.yaml, and
// its drop-ins, /etc/kite/config.yaml.d/*.yaml (in name order), as K3s does:
// each top-level key is the long name of a flag of the command being run,
// with the value the flag would take:
//
//	node-label: [role=edge, zone=a]
//	kubelet-arg: [max-pods=50]
//	https-listen-port: 6443
//	disable-agent: true
//
// A later file replaces a key of an earlier one; `key+:` appends to a list
// instead. Flags given on the command line win over the files. The files
// become command-line arguments placed before the user's, so every value is
// checked by the same flag parsing.
package configfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"
)

// DefaultPath is read when neither --config nor $KITE_CONFIG_FILE names a
// file; unlike a named file, it may be missing.
const DefaultPath = "/etc/kite/config.yaml"

// Files returns path (if it exists, or must) and then its drop-ins,
// path+".d/*.yaml", in name order.
func Files(path string, mustExist bool) ([]string, error) {
	var files []string
	if _, err := os.Stat(path); err == nil {
		files = append(files, path)
	} else if mustExist || !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("config file %s: %w", path, unwrap(err))
	}
	dropIns, err := filepath.Glob(filepath.Join(path+".d", "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(dropIns)
	return append(files, dropIns...), nil
}

// Args turns files into arguments for a command with flags. Flags named in
// given (the command line's) are left out, so the command line wins.
func Args(files []string, flags []cli.Flag, given map[string]bool) ([]string, error) {
	byName := map[string]cli.Flag{}
	for _, f := range flags {
		for _, n := range f.Names() {
			byName[n] = f
		}
	}
	values := map[string][]string{} // flag's main name -> its values
	var order []string
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", file, unwrap(err))
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("config file %s: %v", file, err)
		}
		if len(doc.Content) == 0 {
			continue // empty file
		}
		top := doc.Content[0]
		if top.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("config file %s: want flag names as keys (key: value lines)", file)
		}
		for i := 0; i+1 < len(top.Content); i += 2 {
			k, v := top.Content[i], top.Content[i+1]
			key, appending := strings.CutSuffix(k.Value, "+")
			f, ok := byName[key]
			if !ok || key == "config" {
				return nil, fmt.Errorf("config file %s, line %d: unknown key %q; keys are the long names of the command's flags (see --help)", file, k.Line, k.Value)
			}
			vals, err := flagValues(f, v, appending)
			if err != nil {
				return nil, fmt.Errorf("config file %s, line %d: key %q: %v", file, k.Line, k.Value, err)
			}
			name := f.Names()[0]
			if _, seen := values[name]; !seen {
				order = append(order, name)
			}
			if appending {
				values[name] = append(values[name], vals...)
			} else {
				values[name] = vals
			}
		}
	}
	var args []string
	for _, name := range order {
		if given[name] {
			continue
		}
		for _, v := range values[name] {
			args = append(args, "--"+name+"="+v)
		}
	}
	return args, nil
}

// flagValues checks a YAML value against the flag's type and returns it as
// the flag's argument(s). Scalars are taken as written (0644 stays 0644).
func flagValues(f cli.Flag, v *yaml.Node, appending bool) ([]string, error) {
	switch f.(type) {
	case *cli.StringSliceFlag:
		switch v.Kind {
		case yaml.ScalarNode:
			return []string{v.Value}, nil
		case yaml.SequenceNode:
			var out []string
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("a list of strings expected")
				}
				out = append(out, item.Value)
			}
			return out, nil
		}
		return nil, fmt.Errorf("a string or a list of strings expected")
	}
	if appending {
		return nil, fmt.Errorf("+ appends to a list, and this flag takes one value")
	}
	if v.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("one value expected, not a list or map")
	}
	switch f.(type) {
	case *cli.BoolFlag:
		var b bool
		if err := v.Decode(&b); err != nil {
			return nil, fmt.Errorf("true or false expected, not %q", v.Value)
		}
		return []string{fmt.Sprint(b)}, nil
	case *cli.IntFlag:
		var n int
		if err := v.Decode(&n); err != nil || v.Tag != "!!int" {
			return nil, fmt.Errorf("a whole number expected, not %q", v.Value)
		}
		return []string{v.Value}, nil
	}
	return []string{v.Value}, nil
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
