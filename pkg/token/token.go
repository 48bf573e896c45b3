// Package token makes, parses and stores the cluster join tokens.
//
// The full form, K10<ca-hash>::<credentials>, lets a joining node pin the
// server's CA: <ca-hash> is the hex SHA-256 of the server CA certificate
// file. The credentials are <user>:<secret> (user "server" for the server
// token, "node" for the agent token) or a bootstrap token <id>.<secret>.
// The short form is the credentials alone.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"unicode"

	"github.com/kite-project/kite/pkg/fileutil"
)

const (
	prefix = "K10"
	// ServerUser is the user part of the server token: it joins agents
	// and (later) servers.
	ServerUser = "server"
	// AgentUser is the user part of the agent token (--agent-token): it
	// joins agents only.
	AgentUser = "node"
)

// bootstrapToken is the upstream bootstrap token format, <id>.<secret>.
var bootstrapToken = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)

// Token is a parsed join token.
type Token struct {
	CAHash   string // empty for a short token
	User     string // ServerUser or AgentUser; empty for a bootstrap token
	Password string // the secret; for a bootstrap token, <id>.<secret>
}

// String returns the full K10 form.
func (t Token) String() string {
	return prefix + t.CAHash + "::" + t.Credentials()
}

// Credentials is the part after "::": <user>:<secret>, or a bootstrap
// token as it is.
func (t Token) Credentials() string {
	if t.User == "" {
		return t.Password
	}
	return t.User + ":" + t.Password
}

// Bootstrap returns the ID and secret of a bootstrap token; ok is false for
// a server or agent token.
func (t Token) Bootstrap() (id, secret string, ok bool) {
	if t.User != "" {
		return "", "", false
	}
	m := bootstrapToken.FindStringSubmatch(t.Password)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// IsBootstrap reports whether s has the bootstrap token form <id>.<secret>.
func IsBootstrap(s string) bool { return bootstrapToken.MatchString(s) }

// NewBootstrap returns a random bootstrap token, <6 chars>.<16 chars>.
func NewBootstrap() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 22)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	out := make([]byte, 0, 23)
	for i, c := range b {
		if i == 6 {
			out = append(out, '.')
		}
		// 256 is not a multiple of 36: the first 252 values map evenly;
		// the bias of the last four is negligible against 109 bits.
		out = append(out, alphabet[int(c)%len(alphabet)])
	}
	return string(out), nil
}

// HashCA returns the CA hash that full tokens carry, of the CA file's bytes.
func HashCA(caPEM []byte) string {
	sum := sha256.Sum256(caPEM)
	return hex.EncodeToString(sum[:])
}

// Generate returns a new random secret (128 bits, hex).
func Generate() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Parse reads a token in either form.
func Parse(s string) (Token, error) {
	if s == "" {
		return Token{}, errors.New("token is empty")
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return Token{}, errors.New("token contains white space; give it without spaces or line breaks")
	}
	if !strings.HasPrefix(s, prefix) || !strings.Contains(s, "::") {
		return parseCredentials(s, Token{})
	}
	hash, creds, _ := strings.Cut(strings.TrimPrefix(s, prefix), "::")
	if len(hash) != sha256.Size*2 {
		return Token{}, fmt.Errorf("token's CA hash %q is not a SHA-256 in hex (64 characters); copy the whole token from the server's token file", hash)
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return Token{}, fmt.Errorf("token's CA hash %q is not hex; copy the whole token from the server's token file", hash)
	}
	return parseCredentials(creds, Token{CAHash: strings.ToLower(hash)})
}

// parseCredentials reads what follows "::" (or a short token): a bootstrap
// token, <user>:<secret>, or a bare secret, which is the server's.
func parseCredentials(creds string, t Token) (Token, error) {
	if IsBootstrap(creds) {
		t.Password = creds
		return t, nil
	}
	user, password, ok := strings.Cut(creds, ":")
	short := t.CAHash == ""
	if !ok || short && user != ServerUser && user != AgentUser {
		if !short || creds == "" {
			return Token{}, errors.New("token has no <user>:<secret> or <id>.<secret> after '::'; copy the whole token from the server's token file or 'kite token create'")
		}
		t.User, t.Password = ServerUser, creds // a secret of the user's choice, colons and all
		return t, nil
	}
	if user != ServerUser && user != AgentUser {
		return Token{}, fmt.Errorf("token's user %q is neither %q (server token) nor %q (agent token); copy the whole token from the server's token file", user, ServerUser, AgentUser)
	}
	if password == "" {
		return Token{}, errors.New("token has an empty secret after '" + user + ":'; copy the whole token from the server's token file")
	}
	t.User, t.Password = user, password
	return t, nil
}

// Ensure returns the token stored at path, creating it on first start:
// the server token (user ServerUser, flag --token) or the agent token (user
// AgentUser, flag --agent-token). given is the flag's value (may be empty);
// caHash is the hash of the server's CA. The file is written (0600) only
// when missing or when the CA it names changed; a given token that
// disagrees with the stored one is an error, and the file is left alone.
func Ensure(path, given, caHash, user string) (Token, error) {
	flag := "--token"
	if user == AgentUser {
		flag = "--agent-token"
	}
	var stored *Token
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		t, perr := Parse(strings.TrimSpace(string(data)))
		if perr != nil {
			return Token{}, fmt.Errorf("token file %s is unreadable (%v); restore it, or remove it and pass the cluster's token with %s", path, perr, flag)
		}
		stored = &t
	case !os.IsNotExist(err):
		return Token{}, err
	}

	var tok Token
	switch {
	case given != "":
		t, err := Parse(given)
		if err != nil {
			return Token{}, fmt.Errorf("%s: %w", flag, err)
		}
		if _, _, ok := t.Bootstrap(); ok {
			return Token{}, fmt.Errorf("%s is a bootstrap token (from 'kite token create'), which only joins agents; give the secret of your choice, or leave it out for a random one", flag)
		}
		// A bare secret names no user; <user>:<secret> must name the right one.
		creds := given
		if _, after, ok := strings.Cut(given, "::"); ok && strings.HasPrefix(given, prefix) {
			creds = after
		}
		explicitUser := strings.HasPrefix(creds, ServerUser+":") || strings.HasPrefix(creds, AgentUser+":")
		if explicitUser && t.User != user {
			if user == ServerUser {
				return Token{}, fmt.Errorf("%s is an agent token (…::%s:…), which cannot start or join a server; use the server token (<data-dir>/server/token on the first server)", flag, AgentUser)
			}
			return Token{}, fmt.Errorf("%s is a server token; give the agent token a secret of its own", flag)
		}
		if t.CAHash != "" && t.CAHash != caHash {
			return Token{}, fmt.Errorf("%s pins CA hash %s but this server's CA hashes to %s; the token belongs to another cluster", flag, t.CAHash, caHash)
		}
		if stored != nil && stored.Password != t.Password {
			return Token{}, fmt.Errorf("%s differs from the token this data dir was created with (%s); pass the same token, or remove that file to change it (nodes must then join with the new token)", flag, path)
		}
		tok = Token{User: user, Password: t.Password}
	case stored != nil:
		tok = Token{User: user, Password: stored.Password}
	default:
		secret, err := Generate()
		if err != nil {
			return Token{}, err
		}
		tok = Token{User: user, Password: secret}
	}
	tok.CAHash = caHash
	if _, err := fileutil.WriteIfChanged(path, []byte(tok.String()+"\n"), 0o600); err != nil {
		return Token{}, fmt.Errorf("write token file: %w", err)
	}
	return tok, nil
}
