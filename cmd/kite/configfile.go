package main

import (
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/kite-project/kite/pkg/cliflags"
	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/pkg/configfile"
)

// withConfigFile returns args with the config file's settings of `kite
// server` or `kite agent` put before the command line's own flags; other
// commands' args are returned as they are.
func withConfigFile(args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	var flags []cli.Flag
	// The command's own flags start at args[start]; the file's go there.
	start := 2
	// only, if set, keeps the file's settings of these flags alone.
	var only []cli.Flag
	switch args[1] {
	case "server":
		cfg := config.NewServer()
		flags = cliflags.Server(&cfg)
	case "agent":
		cfg := config.NewAgentCommand()
		flags = cliflags.AgentCommand(&cfg)
	case "etcd-snapshot":
		// The server's settings of the same names (data dir, snapshot
		// dir, ...) apply to its snapshots' command.
		if len(args) < 3 {
			return args, nil
		}
		sub := etcdSnapshotCommand().Command(args[2])
		if sub == nil {
			return args, nil
		}
		cfg := config.NewServer()
		flags, start, only = cliflags.Server(&cfg), 3, sub.Flags
	default:
		return args, nil
	}
	given := givenFlags(args[start:], flags)
	path, named := flagValue(args[start:], "config", "c")
	if !named {
		path = os.Getenv("KITE_CONFIG_FILE")
		named = path != ""
	}
	if !named {
		path = configfile.DefaultPath
	}
	files, err := configfile.Files(path, named)
	if err != nil {
		return nil, err
	}
	fileArgs, err := configfile.Args(files, flags, given)
	if err != nil {
		return nil, err
	}
	if only != nil {
		fileArgs = slices.DeleteFunc(fileArgs, func(a string) bool {
			name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			return !slices.ContainsFunc(only, func(f cli.Flag) bool { return f.Names()[0] == name })
		})
	}
	return append(append(append([]string{}, args[:start]...), fileArgs...), args[start:]...), nil
}

// givenFlags names (by main name) the flags set on the command line or by
// their environment variable: both win over the config file.
func givenFlags(args []string, flags []cli.Flag) map[string]bool {
	main := map[string]string{}
	given := map[string]bool{}
	for _, f := range flags {
		for _, n := range f.Names() {
			main[n] = f.Names()[0]
		}
		if env, ok := f.(interface{ GetEnvVars() []string }); ok {
			for _, e := range env.GetEnvVars() {
				if os.Getenv(e) != "" {
					given[f.Names()[0]] = true
				}
			}
		}
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if m, ok := main[name]; ok {
			given[m] = true
		}
	}
	return given
}

// flagValue finds the value of a string flag on the command line.
func flagValue(args []string, names ...string) (string, bool) {
	for i, a := range args {
		for _, n := range names {
			for _, dash := range []string{"-", "--"} {
				if v, ok := strings.CutPrefix(a, dash+n+"="); ok {
					return v, true
				}
				if a == dash+n && i+1 < len(args) {
					return args[i+1], true
				}
			}
		}
	}
	return "", false
}
