package manifests

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// ParseError is a manifest that does not parse, with the line of the file
// where the problem is.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

var yamlLine = regexp.MustCompile(`line (\d+)`)

// Parse reads the objects of one manifest file: YAML documents separated
// by "---", or JSON; a kind *List is replaced by its items. Empty
// documents are skipped. The first problem is returned as a *ParseError
// whose Line counts in the whole file.
func Parse(file string, data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, doc := range splitDocuments(string(data)) {
		js, err := yaml.YAMLToJSON([]byte(doc.text))
		if err != nil {
			return nil, &ParseError{File: file, Line: doc.line + docLine(err.Error()) - 1, Msg: cleanYAMLError(err.Error())}
		}
		if string(js) == "null" {
			continue // only comments or blank
		}
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			return nil, &ParseError{File: file, Line: doc.line, Msg: "a document must be an object (apiVersion, kind, metadata, …)"}
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return nil, &ParseError{File: file, Line: doc.line, Msg: err.Error()}
			}
			for i := range list.Items {
				item := list.Items[i]
				if err := check(&item); err != nil {
					return nil, &ParseError{File: file, Line: doc.line, Msg: fmt.Sprintf("item %d of the %s: %v", i, u.GetKind(), err)}
				}
				objs = append(objs, &item)
			}
			continue
		}
		if err := check(u); err != nil {
			return nil, &ParseError{File: file, Line: doc.line, Msg: err.Error()}
		}
		objs = append(objs, u)
	}
	return objs, nil
}

func check(u *unstructured.Unstructured) error {
	switch {
	case u.GetAPIVersion() == "":
		return fmt.Errorf("no apiVersion")
	case u.GetKind() == "":
		return fmt.Errorf("no kind")
	case u.GetName() == "":
		return fmt.Errorf("%s has no metadata.name", u.GetKind())
	}
	return nil
}

type document struct {
	text string
	line int // of the document's first line in the file, from 1
}

// splitDocuments cuts YAML at "---" lines, keeping where each part starts.
func splitDocuments(s string) []document {
	var docs []document
	var cur strings.Builder
	start := 1
	for i, line := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.TrimPrefix(line, "---")) == "" {
			docs = append(docs, document{text: cur.String(), line: start})
			cur.Reset()
			start = i + 2
			continue
		}
		cur.WriteString(line)
	}
	return append(docs, document{text: cur.String(), line: start})
}

// docLine is the line a YAML error names, 1 if it names none.
func docLine(msg string) int {
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
			return n
		}
	}
	return 1
}

// cleanYAMLError drops the converter's prefix and the line, which the
// caller reports in file terms.
func cleanYAMLError(msg string) string {
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(yamlLine.ReplaceAllString(msg, ""), ": ")
	if strings.Contains(msg, "cannot start any token") {
		msg += " (a tab? YAML indents with spaces)"
	}
	return msg
}
