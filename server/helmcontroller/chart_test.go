package helmcontroller

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// demoFiles is a small chart: a ConfigMap whose data come from values.
var demoFiles = map[string]string{
	"Chart.yaml":  "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
	"values.yaml": "a: chart\nb: chart\nc: chart\nd: chart\nnested: {p: chart, q: chart}\n",
	"templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}}\n" +
		"data:\n  d: {{ .Values.d | quote }}\n",
}

// writeChartDir writes the chart as a folder dir/demo.
func writeChartDir(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	root := filepath.Join(dir, "demo")
	for name, content := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// packChart makes the .tgz of a chart, as `helm package` lays it out.
func packChart(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		data := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: "demo/" + name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestValuesOrder(t *testing.T) {
	spec := chartSpec{
		ValuesContent: "b: own\nc: own\nd: own\nnested: {p: own}\n",
		Set:           map[string]any{"d": "set"},
	}
	vals, err := chartValues(spec, "c: config\nd: config\n")
	if err != nil {
		t.Fatal(err)
	}
	src, err := resolveChart(chartSpec{ChartContent: base64.StdEncoding.EncodeToString(packChart(t, demoFiles))}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// What the templates see: Helm puts the values over the chart's.
	final, err := chartutil.CoalesceValues(src.Chart, vals)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": "chart", "b": "own", "c": "config", "d": "set",
		"nested": map[string]any{"p": "own", "q": "chart"}}
	if !reflect.DeepEqual(map[string]any(final), want) {
		t.Fatalf("values %v, want %v", final, want)
	}
}

func TestSetTyping(t *testing.T) {
	spec := chartSpec{
		ValuesContent: "deep: {other: kept}\n",
		Set: map[string]any{
			"str":      "true", // a string stays one, as with --set-string
			"num":      int64(3),
			"whole":    float64(4), // from JSON
			"float":    1.5,
			"flag":     true,
			"comma":    "a,b",
			"brace":    "{x,y}",
			"back":     `c:\dir`,
			"deep.key": "v",
			"list[1]":  "second",
			"gone":     nil,
		},
	}
	vals, err := chartValues(spec, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"str": "true", "num": int64(3), "whole": int64(4), "float": 1.5, "flag": true,
		"comma": "a,b", "brace": "{x,y}", "back": `c:\dir`,
		"deep": map[string]any{"other": "kept", "key": "v"},
		"list": []any{nil, "second"},
		"gone": nil,
	}
	if !reflect.DeepEqual(vals, want) {
		t.Fatalf("values\n%#v\nwant\n%#v", vals, want)
	}

	_, err = chartValues(chartSpec{Set: map[string]any{"bad": map[string]any{"x": 1}}}, "")
	if err == nil || !strings.Contains(err.Error(), "spec.set.bad") {
		t.Fatalf("a map in set: err %v", err)
	}
}

// TestDecodeSet: numbers in spec.set come through the API as JSON; they
// reach Helm as --set gives them.
func TestDecodeSet(t *testing.T) {
	u := &unstructured.Unstructured{}
	manifest := "apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: {name: demo, namespace: apps}\n" +
		"spec: {chart: c.tgz, createNamespace: true, set: {replicas: 3, enabled: false, name: \"007\"}}\n"
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatal(err)
	}
	hc, err := decode(u)
	if err != nil {
		t.Fatal(err)
	}
	if hc.Name != "demo" || hc.releaseNamespace() != "apps" || !hc.Spec.CreateNamespace {
		t.Fatalf("decoded %+v", hc)
	}
	vals, err := chartValues(hc.Spec, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"replicas": int64(3), "enabled": false, "name": "007"}; !reflect.DeepEqual(vals, want) {
		t.Fatalf("values %#v, want %#v", vals, want)
	}

	bad := u.DeepCopy()
	unstructured.SetNestedField(bad.Object, "yes", "spec", "createNamespace")
	if hc, err := decode(bad); err == nil || hc == nil || hc.Name != "demo" {
		t.Fatalf("a string for a bool: %v %v", hc, err)
	}
}

func TestValuesErrors(t *testing.T) {
	if _, err := chartValues(chartSpec{ValuesContent: "a: [1"}, ""); err == nil || !strings.Contains(err.Error(), "spec.valuesContent") {
		t.Errorf("bad valuesContent: %v", err)
	}
	if _, err := chartValues(chartSpec{}, "- a list"); err == nil || !strings.Contains(err.Error(), "HelmChartConfig") {
		t.Errorf("bad HelmChartConfig valuesContent: %v", err)
	}
}

func TestResolveChart(t *testing.T) {
	dir := t.TempDir()
	writeChartDir(t, dir, demoFiles)
	tgz := packChart(t, demoFiles)
	if err := os.WriteFile(filepath.Join(dir, "demo.tgz"), tgz, 0o644); err != nil {
		t.Fatal(err)
	}
	content := base64.StdEncoding.EncodeToString(tgz)

	var digests []string
	for _, spec := range []chartSpec{
		{ChartContent: content},
		{ChartContent: content, Chart: "missing.tgz"}, // chartContent first
		{Chart: "demo.tgz"},                           // beside the manifests
		{Chart: filepath.Join(dir, "demo.tgz")},
		{Chart: "demo"}, // a folder
	} {
		src, err := resolveChart(spec, dir)
		if err != nil {
			t.Fatalf("%+v: %v", spec, err)
		}
		if src.Chart == nil || src.Chart.Name() != "demo" {
			t.Fatalf("%+v: chart %v", spec, src.Chart)
		}
		digests = append(digests, src.Digest)
	}
	// The same files, wherever they come from.
	for _, d := range digests[1:] {
		if d != digests[0] {
			t.Fatalf("digests differ: %v", digests)
		}
	}

	for _, c := range []struct {
		spec chartSpec
		want []string
	}{
		{chartSpec{Chart: "missing.tgz"}, []string{"spec.chart", filepath.Join(dir, "missing.tgz"), "does not exist"}},
		{chartSpec{Chart: "/nowhere/chart"}, []string{"spec.chart", "/nowhere/chart"}},
		{chartSpec{ChartContent: "not base64!"}, []string{"spec.chartContent", "base64"}},
		{chartSpec{ChartContent: base64.StdEncoding.EncodeToString([]byte("plain text"))}, []string{"spec.chartContent", "archive"}},
		{chartSpec{Chart: "traefik"}, []string{"spec.chart", "traefik", "spec.repo"}},
		{chartSpec{}, []string{"spec.chart"}},
	} {
		_, err := resolveChart(c.spec, dir)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: err %v, want it to say %q", c.spec, err, w)
			}
		}
	}

	// A chart from a repository is only named: loading it downloads it.
	a, err := resolveChart(chartSpec{Chart: "traefik", Repo: "https://charts.example.invalid", Version: "1.0.0"}, dir)
	if err != nil || a.Chart != nil || a.Digest == "" {
		t.Fatalf("remote chart: %+v %v", a, err)
	}
	b, _ := resolveChart(chartSpec{Chart: "traefik", Repo: "https://charts.example.invalid", Version: "1.0.1"}, dir)
	if a.Digest == b.Digest {
		t.Error("another version, the same digest")
	}
}

func TestConfigHash(t *testing.T) {
	vals := func(d string) map[string]any {
		return map[string]any{"a": "1", "b": map[string]any{"x": int64(2), "y": []any{"p", "q"}}, "d": d}
	}
	h := configHash("chart1", vals("one"))
	if len(h) != 32 {
		t.Fatalf("hash %q: want 32 hex digits (a label value)", h)
	}
	for range 20 { // map order must not matter
		if configHash("chart1", vals("one")) != h {
			t.Fatal("the same chart and values, another hash")
		}
	}
	if configHash("chart1", vals("two")) == h {
		t.Error("values changed, the hash did not")
	}
	if configHash("chart2", vals("one")) == h {
		t.Error("chart changed, the hash did not")
	}
}
