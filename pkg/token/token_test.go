package token

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var hashA = HashCA([]byte("ca A"))
var hashB = HashCA([]byte("ca B"))

func TestParseForms(t *testing.T) {
	full := "K10" + hashA + "::server:s3cret"
	tok, err := Parse(full)
	if err != nil {
		t.Fatal(err)
	}
	if tok.CAHash != hashA || tok.User != "server" || tok.Password != "s3cret" {
		t.Fatalf("parsed %+v", tok)
	}
	if tok.String() != full {
		t.Fatalf("round trip: %q != %q", tok.String(), full)
	}
	short, err := Parse("s3cret")
	if err != nil || short.Password != "s3cret" || short.CAHash != "" {
		t.Fatalf("short token: %+v %v", short, err)
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{
		"",
		"has space",
		"K10abc::server:x", // hash too short
		"K10" + strings.Repeat("z", 64) + "::server:x", // not hex
		"K10" + hashA + "::nosecret",
		"K10" + hashA + "::server:",
	} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted a bad token", bad)
		}
	}
}

func TestEnsureCreatesThenReuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	first, err := Ensure(path, "", hashA, ServerUser)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Password) != 32 {
		t.Fatalf("generated secret %q", first.Password)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", st.Mode().Perm())
	}
	again, err := Ensure(path, "", hashA, ServerUser)
	if err != nil || again != first {
		t.Fatalf("restart changed the token: %+v -> %+v (%v)", first, again, err)
	}
	data, _ := os.ReadFile(path)
	if strings.TrimSpace(string(data)) != first.String() {
		t.Fatalf("file holds %q", data)
	}
}

func TestEnsureGivenToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	tok, err := Ensure(path, "mysecret", hashA, ServerUser)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Password != "mysecret" || tok.CAHash != hashA {
		t.Fatalf("got %+v", tok)
	}
	// The full form of the same token is accepted.
	if _, err := Ensure(path, tok.String(), hashA, ServerUser); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureRefusesOtherToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if _, err := Ensure(path, "one", hashA, ServerUser); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if _, err := Ensure(path, "two", hashA, ServerUser); err == nil {
		t.Fatal("a different --token was accepted")
	}
	if _, err := Ensure(path, "K10"+hashB+"::server:one", hashA, ServerUser); err == nil {
		t.Fatal("a token pinning another CA was accepted")
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("token file changed on bad input")
	}
}

func TestEnsureCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	os.WriteFile(path, []byte("K10"+hashA+"::broken\n"), 0o600)
	if _, err := Ensure(path, "", hashA, ServerUser); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("corrupt token file: %v", err)
	}
}

func TestParseAgentAndBootstrapTokens(t *testing.T) {
	agent, err := Parse("K10" + hashA + "::node:s3cret")
	if err != nil || agent.User != AgentUser || agent.Password != "s3cret" {
		t.Fatalf("agent token: %+v %v", agent, err)
	}
	if _, _, ok := agent.Bootstrap(); ok {
		t.Fatal("an agent token reads as a bootstrap token")
	}
	for _, s := range []string{"K10" + hashA + "::abcdef.0123456789abcdef", "abcdef.0123456789abcdef"} {
		tok, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		id, secret, ok := tok.Bootstrap()
		if !ok || id != "abcdef" || secret != "0123456789abcdef" {
			t.Fatalf("Parse(%q) = %+v, bootstrap %q %q %v", s, tok, id, secret, ok)
		}
		if tok.String() != "K10"+tok.CAHash+"::abcdef.0123456789abcdef" {
			t.Fatalf("round trip of %q: %q", s, tok.String())
		}
	}
	if _, err := Parse("K10" + hashA + "::admin:x"); err == nil || !strings.Contains(err.Error(), "admin") {
		t.Fatalf("unknown user accepted or not named: %v", err)
	}
	if tok, err := Parse("my:own:secret"); err != nil || tok.User != ServerUser || tok.Password != "my:own:secret" {
		t.Fatalf("a short secret with colons: %+v %v", tok, err)
	}
	if tok, err := Parse("node:s3cret"); err != nil || tok.User != AgentUser || tok.Password != "s3cret" {
		t.Fatalf("a short agent token: %+v %v", tok, err)
	}
}

func TestNewBootstrap(t *testing.T) {
	a, err := NewBootstrap()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewBootstrap()
	if !IsBootstrap(a) || !IsBootstrap(b) || a == b {
		t.Fatalf("bootstrap tokens %q %q", a, b)
	}
}

func TestEnsureRefusesTheWrongKindOfToken(t *testing.T) {
	dir := t.TempDir()
	server := filepath.Join(dir, "token")
	for given, want := range map[string]string{
		"K10" + hashA + "::node:x":   "agent token",
		"abcdef.0123456789abcdef":    "bootstrap token",
		"K10" + hashA + "::server:x": "",
	} {
		_, err := Ensure(server, given, hashA, ServerUser)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("server Ensure(%q): %v, want error containing %q", given, err, want)
		}
	}
	agent := filepath.Join(dir, "agent-token")
	tok, err := Ensure(agent, "plain", hashA, AgentUser)
	if err != nil || tok.String() != "K10"+hashA+"::node:plain" {
		t.Fatalf("agent token from a bare secret: %v %v", tok, err)
	}
	if _, err := Ensure(agent, "K10"+hashA+"::server:plain", hashA, AgentUser); err == nil {
		t.Fatal("a server token was taken as the agent token")
	}
	other := filepath.Join(dir, "agent-token-2")
	if tok, err := Ensure(other, "with:colons", hashA, AgentUser); err != nil || tok.Password != "with:colons" {
		t.Fatalf("an agent secret with colons: %v %v", tok, err)
	}
}
