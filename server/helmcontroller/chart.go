package helmcontroller

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/repo"
	"helm.sh/helm/v3/pkg/strvals"
)

// chartSpec is what a HelmChart asks for (the fields of K3s's HelmChart that
// kite reads).
type chartSpec struct {
	Chart           string `json:"chart,omitempty"`
	Repo            string `json:"repo,omitempty"`
	Version         string `json:"version,omitempty"`
	ChartContent    string `json:"chartContent,omitempty"` // base64 of a .tgz
	TargetNamespace string `json:"targetNamespace,omitempty"`
	CreateNamespace bool   `json:"createNamespace,omitempty"`
	ValuesContent   string `json:"valuesContent,omitempty"` // YAML
	// Set holds key=value pairs applied as `helm --set` would, over the
	// values; a string value stays a string (as with --set-string).
	Set map[string]any `json:"set,omitempty"`
}

// chartValues are the values handed to Helm for a HelmChart: its valuesContent,
// the valuesContent of the HelmChartConfig of the same name merged over it,
// then spec.set. Helm puts them over the chart's own values.yaml.
func chartValues(spec chartSpec, configValuesContent string) (map[string]any, error) {
	own, err := chartutil.ReadValues([]byte(spec.ValuesContent))
	if err != nil {
		return nil, fmt.Errorf("spec.valuesContent: %v", err)
	}
	over, err := chartutil.ReadValues([]byte(configValuesContent))
	if err != nil {
		return nil, fmt.Errorf("HelmChartConfig spec.valuesContent: %v", err)
	}
	vals := merge(own, over)
	// Sorted, so that overlapping keys (a, a.b) always apply in one order.
	for _, key := range slices.Sorted(maps.Keys(spec.Set)) {
		if err := setValue(vals, key, spec.Set[key]); err != nil {
			return nil, fmt.Errorf("spec.set.%s: %v", key, err)
		}
	}
	return vals, nil
}

// merge returns base with over merged into it: maps are merged key by key,
// anything else in over replaces what base has. Neither input is changed.
func merge(base, over map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range over {
		if vm, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = merge(bm, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// setValue applies key=v as `helm --set` does; the key has --set's syntax
// (a.b[0].c, with \. for a literal dot).
func setValue(vals map[string]any, key string, v any) error {
	switch v := v.(type) {
	case string:
		// --set-string: the value is taken as is (escaped for the parser).
		return strvals.ParseIntoString(key+"="+escapeValue(v), vals)
	case bool:
		return strvals.ParseInto(key+"="+strconv.FormatBool(v), vals)
	case int64:
		return strvals.ParseInto(key+"="+strconv.FormatInt(v, 10), vals)
	case int:
		return strvals.ParseInto(key+"="+strconv.Itoa(v), vals)
	case float64:
		// Numbers decoded from JSON: whole ones as --set gives them (int64),
		// others as JSON numbers.
		if v == float64(int64(v)) {
			return strvals.ParseInto(key+"="+strconv.FormatInt(int64(v), 10), vals)
		}
		return strvals.ParseJSON(key+"="+strconv.FormatFloat(v, 'g', -1, 64), vals)
	case nil:
		return strvals.ParseInto(key+"=null", vals)
	default:
		return fmt.Errorf("a %T; want a string, a number or a bool", v)
	}
}

// escapeValue protects what --set's parser reads as syntax in a value: a
// comma ends it, a leading { starts a list, a backslash escapes.
func escapeValue(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `,`, `\,`).Replace(s)
	if strings.HasPrefix(s, "{") {
		s = `\` + s
	}
	return s
}

// chartSource is where a HelmChart's chart comes from.
type chartSource struct {
	// Digest identifies the chart: a hash of its files, or for a chart
	// from a repository, of its repository, name and version (a download
	// is made only when something changed).
	Digest string
	// Chart is the loaded chart, nil for a chart from a repository.
	Chart *chart.Chart
	// remote is where to download it from, if Chart is nil.
	remote chartSpec
}

// resolveChart finds the chart of spec: spec.chartContent if set; else
// spec.chart as a .tgz or chart folder (absolute, or relative to
// manifestsDir, where it can lie beside the HelmChart's manifest); else
// spec.chart (and spec.repo, spec.version) in a chart repository or at a
// URL. Local charts are loaded at once.
func resolveChart(spec chartSpec, manifestsDir string) (chartSource, error) {
	if spec.ChartContent != "" {
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(spec.ChartContent))
		if err != nil {
			return chartSource{}, fmt.Errorf("spec.chartContent: not base64: %v", err)
		}
		ch, err := loader.LoadArchive(bytes.NewReader(data))
		if err != nil {
			return chartSource{}, fmt.Errorf("spec.chartContent: not a chart archive (.tgz): %v", err)
		}
		return chartSource{Digest: digest(ch), Chart: ch}, nil
	}
	if spec.Chart == "" {
		return chartSource{}, fmt.Errorf("spec.chart and spec.chartContent are both empty: one names the chart")
	}
	if path, ok := localPath(spec.Chart, manifestsDir); ok {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			return chartSource{}, fmt.Errorf("spec.chart: %s does not exist", path)
		} else if err != nil {
			return chartSource{}, fmt.Errorf("spec.chart: %v", err)
		}
		ch, err := loader.Load(path)
		if err != nil {
			return chartSource{}, fmt.Errorf("spec.chart: cannot load %s: %v", path, err)
		}
		return chartSource{Digest: digest(ch), Chart: ch}, nil
	}
	if spec.Repo == "" && !strings.Contains(spec.Chart, "://") {
		return chartSource{}, fmt.Errorf("spec.chart: %q is no file in %s and no URL; set spec.repo to take it from a chart repository", spec.Chart, manifestsDir)
	}
	sum := sha256.Sum256([]byte("remote\x00" + spec.Repo + "\x00" + spec.Chart + "\x00" + spec.Version))
	return chartSource{Digest: hex.EncodeToString(sum[:]), remote: spec}, nil
}

// localPath tells whether ref names a chart on this machine, and where. An
// absolute path or a name ending in .tgz is one (and an error if missing);
// another name is one if it exists in manifestsDir.
func localPath(ref, manifestsDir string) (string, bool) {
	if strings.Contains(ref, "://") {
		return "", false
	}
	path := ref
	if !filepath.IsAbs(path) {
		path = filepath.Join(manifestsDir, ref)
	}
	if filepath.IsAbs(ref) || strings.HasSuffix(ref, ".tgz") || strings.HasSuffix(ref, ".tar.gz") {
		return path, true
	}
	_, err := os.Stat(path)
	return path, err == nil
}

// digest hashes the files of a chart (subcharts included).
func digest(ch *chart.Chart) string {
	files := slices.Clone(ch.Raw)
	slices.SortFunc(files, func(a, b *chart.File) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Name, len(f.Data))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Load returns the chart, downloading it if it comes from a repository.
func (s chartSource) Load() (*chart.Chart, error) {
	if s.Chart != nil {
		return s.Chart, nil
	}
	ch, err := download(s.remote)
	if err != nil {
		return nil, fmt.Errorf("spec.chart: cannot download %q: %v", s.remote.Chart, err)
	}
	return ch, nil
}

// download fetches a chart: from the index of the repository spec.repo,
// else straight from the URL spec.chart (http, https, oci).
func download(spec chartSpec) (*chart.Chart, error) {
	providers := getter.Providers{
		{Schemes: []string{"http", "https"}, New: getter.NewHTTPGetter},
		{Schemes: []string{"oci"}, New: getter.NewOCIGetter},
	}
	ref := spec.Chart
	if spec.Repo != "" {
		r, err := repo.NewChartRepository(&repo.Entry{Name: "kite", URL: spec.Repo}, providers)
		if err != nil {
			return nil, err
		}
		// The index is read once, from a folder of its own.
		if r.CachePath, err = os.MkdirTemp("", "kite-helm-index-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(r.CachePath)
		index, err := r.DownloadIndexFile()
		if err != nil {
			return nil, fmt.Errorf("spec.repo %s: %v", spec.Repo, err)
		}
		idx, err := repo.LoadIndexFile(index)
		if err != nil {
			return nil, fmt.Errorf("spec.repo %s: %v", spec.Repo, err)
		}
		cv, err := idx.Get(spec.Chart, spec.Version)
		if err != nil {
			return nil, fmt.Errorf("not in %s (version %q): %v", spec.Repo, spec.Version, err)
		}
		if len(cv.URLs) == 0 {
			return nil, fmt.Errorf("%s lists no URL for it", spec.Repo)
		}
		if ref, err = repo.ResolveReferenceURL(spec.Repo, cv.URLs[0]); err != nil {
			return nil, err
		}
	}
	u, err := url.Parse(ref)
	if err != nil {
		return nil, err
	}
	g, err := providers.ByScheme(u.Scheme)
	if err != nil {
		return nil, err
	}
	data, err := g.Get(ref, getter.WithURL(ref), getter.WithTimeout(2*time.Minute), getter.WithTagName(spec.Version))
	if err != nil {
		return nil, err
	}
	return loader.LoadArchive(data)
}

// configHash identifies what a release is made of: the chart and the
// values. 32 hex digits (128 bits), to fit in a label value.
func configHash(chartDigest string, vals map[string]any) string {
	data, err := json.Marshal(vals) // maps are written with sorted keys
	if err != nil {
		data = []byte(fmt.Sprint(vals))
	}
	h := sha256.New()
	h.Write([]byte(chartDigest))
	h.Write([]byte{0})
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil)[:16])
}
