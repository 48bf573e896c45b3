package main

import (
	"os"
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
	switch args[1] {
	case "server":
		cfg := config.NewServer()
		flags = cliflags.Server(&cfg)
	case "agent":
		cfg := config.NewAgentCommand()
		flags = cliflags.AgentCommand(&cfg)
	default:
		return args, nil
	}
	given := givenFlags(args[2:], flags)
	path, named := flagValue(args[2:], "config", "c")
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
	return append(append(append([]string{}, args[:2]...), fileArgs...), args[2:]...), nil
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
