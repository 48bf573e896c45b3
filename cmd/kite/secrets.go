package main

import (
	"strings"
	"unsafe"

	"github.com/kite-project/kite/pkg/dbendpoint"
)

// secretFlags carry a secret in their value; a secret in a password of
// --datastore-endpoint is only that password.
var secretFlags = []string{"token", "t", "agent-token", "datastore-endpoint"}

// hideSecrets keeps the secrets given on the command line out of ps and
// /proc/PID/cmdline: each argument holding one is copied for kite's own
// use, and the secret's bytes in the process's original arguments (which
// is what ps reads) are overwritten with 'x'. Giving secrets in the
// environment or the config file is still better: they are never there.
func hideSecrets(args []string) {
	// Only kite server and kite agent take these flags: kubectl's -t, say,
	// is another thing.
	if len(args) < 2 || (args[1] != "server" && args[1] != "agent") {
		return
	}
	for i := 2; i < len(args); i++ {
		name, value, inline := flagParts(args[i])
		if name == "" || !isSecretFlag(name) {
			continue
		}
		at := i
		if !inline {
			if i+1 >= len(args) {
				return
			}
			at, value = i+1, args[i+1]
			i++
		}
		secret := value
		if name == "datastore-endpoint" {
			secret = dbendpoint.Password(value)
		}
		if secret == "" {
			continue
		}
		original := args[at]
		args[at] = strings.Clone(original)
		overwrite(original, secret)
	}
}

// flagParts splits -name, --name or --name=value.
func flagParts(arg string) (name, value string, inline bool) {
	if !strings.HasPrefix(arg, "-") || arg == "-" || arg == "--" {
		return "", "", false
	}
	name, value, inline = strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return name, value, inline
}

func isSecretFlag(name string) bool {
	for _, f := range secretFlags {
		if f == name {
			return true
		}
	}
	return false
}

// overwrite writes 'x' over each occurrence of secret inside s, in place:
// s must be an argument the runtime took from the process's memory
// (os.Args), which no Go string refers to any more.
func overwrite(s, secret string) {
	if s == "" || secret == "" {
		return
	}
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	for from := 0; ; {
		i := strings.Index(s[from:], secret)
		if i < 0 {
			return
		}
		for j := from + i; j < from+i+len(secret); j++ {
			b[j] = 'x'
		}
		from += i + len(secret)
	}
}
