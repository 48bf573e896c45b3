// Package token makes, parses and stores the cluster join token.
//
// The full form, K10<ca-hash>::<user>:<secret>, lets a joining node pin the
// server's CA: <ca-hash> is the hex SHA-256 of the server CA certificate
// file. The short form is the secret alone.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"

	"github.com/kite-project/kite/pkg/fileutil"
)

const (
	prefix = "K10"
	// ServerUser is the user part of tokens made by the server.
	ServerUser = "server"
)

// Token is a parsed join token.
type Token struct {
	CAHash   string // empty for a short token
	User     string
	Password string
}

// String returns the full K10 form.
func (t Token) String() string {
	return prefix + t.CAHash + "::" + t.User + ":" + t.Password
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
		return Token{User: ServerUser, Password: s}, nil
	}
	hash, creds, _ := strings.Cut(strings.TrimPrefix(s, prefix), "::")
	if len(hash) != sha256.Size*2 {
		return Token{}, fmt.Errorf("token's CA hash %q is not a SHA-256 in hex (64 characters); copy the whole token from the server's token file", hash)
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return Token{}, fmt.Errorf("token's CA hash %q is not hex; copy the whole token from the server's token file", hash)
	}
	user, password, ok := strings.Cut(creds, ":")
	if !ok || user == "" || password == "" {
		return Token{}, errors.New("token has no <user>:<secret> after '::'; copy the whole token from the server's token file")
	}
	return Token{CAHash: strings.ToLower(hash), User: user, Password: password}, nil
}

// Ensure returns the server token stored at path, creating it on first
// start. given is the --token value (may be empty). caHash is the hash of
// the server's CA. The file is written (0600) only when missing or when the
// CA it names changed; a given token that disagrees with the stored one is
// an error, and the file is left alone.
func Ensure(path, given, caHash string) (Token, error) {
	var stored *Token
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		t, perr := Parse(strings.TrimSpace(string(data)))
		if perr != nil {
			return Token{}, fmt.Errorf("token file %s is unreadable (%v); restore it, or remove it and pass the cluster's token with --token", path, perr)
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
			return Token{}, fmt.Errorf("--token: %w", err)
		}
		if t.CAHash != "" && t.CAHash != caHash {
			return Token{}, fmt.Errorf("--token pins CA hash %s but this server's CA hashes to %s; the token belongs to another cluster", t.CAHash, caHash)
		}
		if stored != nil && stored.Password != t.Password {
			return Token{}, fmt.Errorf("--token differs from the token this data dir was created with (%s); pass the same token, or remove that file to change it (nodes must then join with the new token)", path)
		}
		tok = Token{User: ServerUser, Password: t.Password}
	case stored != nil:
		tok = Token{User: ServerUser, Password: stored.Password}
	default:
		secret, err := Generate()
		if err != nil {
			return Token{}, err
		}
		tok = Token{User: ServerUser, Password: secret}
	}
	tok.CAHash = caHash
	if _, err := fileutil.WriteIfChanged(path, []byte(tok.String()+"\n"), 0o600); err != nil {
		return Token{}, fmt.Errorf("write token file: %w", err)
	}
	return tok, nil
}
