package config

import (
	"errors"
	"strings"
)

// Arg is one flag of an upstream component: --Name=Value.
type Arg struct {
	Name  string
	Value string
}

// splitArg reads a user's pass-through argument: "key=value", "key" (a
// boolean flag set to true), leading dashes allowed.
func splitArg(s string) (string, string, error) {
	name, value, hasValue := strings.Cut(strings.TrimLeft(s, "-"), "=")
	if name == "" {
		return "", "", errors.New("no flag name; write it as name=value, e.g. v=2")
	}
	if strings.ContainsAny(name, " \t") {
		return "", "", errors.New("flag name contains white space; write it as name=value")
	}
	if !hasValue {
		value = "true"
	}
	return name, value, nil
}

// MergeArgs renders the command line of an upstream component: kite's
// defaults, with every flag the user passed replacing kite's flag of the
// same name. A flag the user passes several times is kept several times
// (for list flags). extra must have passed Validate.
func MergeArgs(defaults []Arg, extra []string) []string {
	user := make(map[string]bool)
	var userArgs []string
	for _, e := range extra {
		name, value, err := splitArg(e)
		if err != nil {
			continue
		}
		user[name] = true
		userArgs = append(userArgs, "--"+name+"="+value)
	}
	var out []string
	for _, d := range defaults {
		if !user[d.Name] {
			out = append(out, "--"+d.Name+"="+d.Value)
		}
	}
	return append(out, userArgs...)
}

// hasArg reports whether the user's pass-through arguments set flag name.
func hasArg(extra []string, name string) bool {
	for _, e := range extra {
		if n, _, err := splitArg(e); err == nil && n == name {
			return true
		}
	}
	return false
}
