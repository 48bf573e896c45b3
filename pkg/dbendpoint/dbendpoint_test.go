package dbendpoint

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in       string
		kind     Kind
		redacted string
	}{
		{"postgres://kite:s3cret@db:5432/kite?sslmode=disable", Postgres, "postgres://kite:xxxxx@db:5432/kite?sslmode=disable"},
		{"postgresql://kite@db/kite", Postgres, "postgresql://kite@db/kite"},
		{"mysql://kite:s3cret@tcp(db:3306)/kite", MySQL, "mysql://kite:xxxxx@tcp(db:3306)/kite"},
		{"mysql://kite@tcp(db:3306)/kite", MySQL, "mysql://kite@tcp(db:3306)/kite"},
		{"https://e1:2379,https://e2:2379", Etcd, "https://e1:2379,https://e2:2379"},
		{"sqlite:///var/lib/kite/state.db", SQLite, "sqlite:///var/lib/kite/state.db"},
	} {
		e, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if e.Kind != c.kind || e.Redacted != c.redacted || e.URL != c.in {
			t.Errorf("Parse(%q) = %+v, want kind %s, redacted %q", c.in, e, c.kind, c.redacted)
		}
	}
	e, _ := Parse("https://e1:2379, http://e2:2379/")
	if !slices.Equal(e.Servers, []string{"https://e1:2379", "http://e2:2379"}) {
		t.Errorf("etcd servers %v", e.Servers)
	}
	if e, _ := Parse("sqlite:///data/x.db"); e.Path != "/data/x.db" {
		t.Errorf("sqlite path %q", e.Path)
	}
}

// TestParseErrorsHideThePassword: a bad endpoint is one error that says
// what is wrong and shows no password.
func TestParseErrorsHideThePassword(t *testing.T) {
	for in, want := range map[string]string{
		"mongodb://u:s3cret@h/db":          `unknown database "mongodb"`,
		"u:s3cret@h:5432/db":               "names no database",
		"postgres://u:s3cret@[::1/db":      "is not a PostgreSQL URL",
		"mysql://u:s3cret@tcp(h:3306)db":   "is not a MySQL address",
		"https://u:s3cret@e1:2379":         "not a user in the URL",
		"https://e1:2379,ftp://u:s3cret@x": "is not an etcd client URL",
		"sqlite://":                        "names no file",
	} {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", in, err, want)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Parse(%q) error shows the password: %v", in, err)
		}
	}
}

func TestPassword(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://kite:s3cret@db:5432/kite":   "s3cret",
		"mysql://kite:s3cret@tcp(db:3306)/kite": "s3cret",
		"postgres://kite@db/kite":               "",
		"https://e1:2379":                       "",
		"not an endpoint":                       "",
	} {
		if got := Password(in); got != want {
			t.Errorf("Password(%q) = %q, want %q", in, got, want)
		}
	}
}
