package manifests

import (
	"errors"
	"strings"
	"testing"
)

func TestParseDocumentsAndLists(t *testing.T) {
	data := `# a comment only
---
apiVersion: v1
kind: Namespace
metadata: {name: mf}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: one, namespace: mf}, data: {a: "1"}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: two, namespace: mf}}
---
`
	objs, err := Parse("app.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetKind()+"/"+o.GetName())
	}
	if strings.Join(names, " ") != "Namespace/mf ConfigMap/one ConfigMap/two" {
		t.Fatalf("objects %v", names)
	}
	json, err := Parse("x.json", []byte(`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}`))
	if err != nil || len(json) != 1 || json[0].GetName() != "j" {
		t.Fatalf("JSON: %v %v", json, err)
	}
}

func TestParseErrorsNameTheFileLine(t *testing.T) {
	for _, c := range []struct {
		data string
		line int
		want string
	}{
		// A tab where YAML wants spaces, on line 7 of the file.
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: b\n", 8, "tab"},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\nkind: ConfigMap\nmetadata: {name: b}\n", 5, "no apiVersion"},
		{"apiVersion: v1\nkind: ConfigMap\n", 1, "no metadata.name"},
		{"- just\n- a list\n", 1, "must be an object"},
	} {
		_, err := Parse("broken.yaml", []byte(c.data))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.File != "broken.yaml" || pe.Line != c.line || !strings.Contains(pe.Msg, c.want) {
			t.Errorf("Parse(%q): %v, want broken.yaml:%d mentioning %q", c.data, err, c.line, c.want)
		}
	}
}
