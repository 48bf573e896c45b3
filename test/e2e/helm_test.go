package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// demoChart is a chart made by the test: a ConfigMap whose data come from
// the values.
var demoChart = map[string]string{
	"Chart.yaml":  "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
	"values.yaml": "greeting: hello\nextra: chart\n",
	"templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n" +
		"data:\n  greeting: {{ .Values.greeting | quote }}\n  extra: {{ .Values.extra | quote }}\n",
}

// TestHelmChart: HelmChart manifests in the manifests folder are installed
// by the server with Helm (no pod: --disable-agent), seen by the real helm
// command; a change of values upgrades, a HelmChartConfig overrides, a
// restart changes nothing, a chart beside the manifest is found, a missing
// one is reported by name, and deleting the manifest uninstalls.
func TestHelmChart(t *testing.T) {
	helmBin := filepath.Join(t.TempDir(), "helm")
	helmBuilt := make(chan error, 1)
	go func() { helmBuilt <- buildHelm(helmBin) }() // meanwhile the server starts

	dataDir := t.TempDir()
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	dir := filepath.Join(dataDir, "server", "manifests")
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, ".tmp-"+name) // renamed: never half a file
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(name string) {
		t.Helper()
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	chartContent := base64.StdEncoding.EncodeToString(packChart(t, demoChart))
	helmChart := func(values string) string {
		return "apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: {name: demo, namespace: kube-system}\nspec:\n" +
			"  chartContent: " + chartContent + "\n  targetNamespace: helm-demo\n  createNamespace: true\n" +
			"  valuesContent: |\n    " + values + "\n"
	}
	// Present before the start: the CRDs must be there when it is applied.
	write("demo.yaml", helmChart("greeting: one"))
	srv := startServer(t, dataDir, kubeconfig, "--disable-agent")
	srv.waitReady()

	data := func(configMap, key string) string {
		out, err := srv.kubectl("-n", "helm-demo", "get", "configmap", configMap, "-o", "jsonpath={.data."+key+"}")
		if err != nil {
			return "absent"
		}
		return out
	}
	waitData := func(configMap, key, want string) {
		t.Helper()
		eventually(t, 2*time.Minute, fmt.Sprintf("%s %s=%s", configMap, key, want), func() error {
			if got := data(configMap, key); got != want {
				return fmt.Errorf("%s is %q", key, got)
			}
			return nil
		})
	}
	waitData("demo-settings", "greeting", "one")
	if got := data("demo-settings", "extra"); got != "chart" {
		t.Fatalf("extra=%q, want the chart's own value", got)
	}

	if err := <-helmBuilt; err != nil {
		t.Fatal(err)
	}
	helmHome := t.TempDir()
	// releases lists the releases as the helm command sees them.
	releases := func() (map[string]helmRelease, error) {
		cmd := srv.command(helmBin, "list", "-A", "-a", "-o", "json", "--kubeconfig", kubeconfig)
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+helmHome+"/cache", "HELM_CONFIG_HOME="+helmHome+"/config",
			"HELM_DATA_HOME="+helmHome+"/data", "KUBECACHEDIR="+helmHome+"/kube")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("helm list: %v: %s", err, errOut.String())
		}
		var list []helmRelease
		if err := json.Unmarshal(out.Bytes(), &list); err != nil {
			return nil, fmt.Errorf("helm list: %v: %s", err, out.String())
		}
		m := map[string]helmRelease{}
		for _, r := range list {
			m[r.Namespace+"/"+r.Name] = r
		}
		return m, nil
	}
	waitRelease := func(key, revision string) {
		t.Helper()
		eventually(t, time.Minute, "helm list: "+key+" revision "+revision, func() error {
			rels, err := releases()
			if err != nil {
				return err
			}
			if r := rels[key]; r.Status != "deployed" || r.Revision != revision {
				return fmt.Errorf("releases %+v", rels)
			}
			return nil
		})
	}
	waitRelease("helm-demo/demo", "1")
	jsonpath := func(kind, name, path string) string {
		out, _ := srv.kubectl("-n", "kube-system", "get", kind, name, "-o", "jsonpath="+path)
		return out
	}
	if got := jsonpath("helmchart", "demo", `{.status.conditions[?(@.type=="Deployed")].status}`); got != "True" {
		t.Errorf("Deployed condition %q, want True", got)
	}
	if got := jsonpath("helmchart", "demo", "{.metadata.finalizers}"); !strings.Contains(got, "helm.kite.io/uninstall") {
		t.Errorf("finalizers %q", got)
	}
	if out := srv.mustKubectl(t, "-n", "kube-system", "get", "events", "--field-selector", "involvedObject.name=demo,reason=Installed", "-o", "name"); strings.TrimSpace(out) == "" {
		t.Error("no Installed Event on the HelmChart")
	}

	// The steps below are blocks, not subtests: a server restarted in one
	// must outlive it, and the helpers above fail the whole test.

	// a change of values upgrades
	{
		write("demo.yaml", helmChart("greeting: two"))
		waitData("demo-settings", "greeting", "two")
		waitRelease("helm-demo/demo", "2")
	}

	// a HelmChartConfig overrides the HelmChart's values
	{
		write("demo-config.yaml", "apiVersion: helm.cattle.io/v1\nkind: HelmChartConfig\n"+
			"metadata: {name: demo, namespace: kube-system}\nspec:\n  valuesContent: |\n    extra: config\n")
		waitData("demo-settings", "extra", "config")
		if got := data("demo-settings", "greeting"); got != "two" {
			t.Fatalf("greeting=%q: the HelmChart's own values were lost", got)
		}
		waitRelease("helm-demo/demo", "3")
	}

	// a restart upgrades nothing
	{
		if code := srv.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("exit code %d", code)
		}
		srv = startServer(t, dataDir, kubeconfig, "--disable-agent")
		srv.waitReady()
		// The controller looks at every HelmChart as soon as it is ready;
		// give it time to do something it should not.
		time.Sleep(15 * time.Second)
		waitRelease("helm-demo/demo", "3")
		if strings.Contains(srv.stderr.String(), "helm chart upgraded") {
			t.Fatal("upgraded again after a restart")
		}
	}

	// a chart file beside the manifest
	{
		files := maps.Clone(demoChart)
		files["Chart.yaml"] = "apiVersion: v2\nname: local\nversion: 0.2.0\n"
		if err := os.WriteFile(filepath.Join(dir, "local.tgz"), packChart(t, files), 0o644); err != nil {
			t.Fatal(err)
		}
		write("local.yaml", "apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: {name: local, namespace: kube-system}\n"+
			"spec: {chart: local.tgz, targetNamespace: helm-demo, set: {greeting: from-set}}\n")
		waitData("local-settings", "greeting", "from-set")
		waitRelease("helm-demo/local", "1")
	}

	// a missing chart is reported by name
	{
		write("broken.yaml", "apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: {name: broken, namespace: kube-system}\n"+
			"spec: {chart: missing.tgz}\n")
		eventually(t, time.Minute, "the Failed condition", func() error {
			status := jsonpath("helmchart", "broken", `{.status.conditions[?(@.type=="Failed")].status}`)
			msg := jsonpath("helmchart", "broken", `{.status.conditions[?(@.type=="Failed")].message}`)
			if status != "True" || !strings.Contains(msg, "missing.tgz") {
				return fmt.Errorf("Failed=%q: %q", status, msg)
			}
			return nil
		})
		waitEvent(t, srv, "kube-system", "involvedObject.name=broken,type=Warning", "missing.tgz")
		if !strings.Contains(srv.stderr.String(), "missing.tgz") {
			t.Error("the log does not name missing.tgz")
		}
	}

	// deleting the manifests uninstalls
	{
		for _, f := range []string{"demo.yaml", "demo-config.yaml", "local.yaml", "broken.yaml"} {
			remove(f)
		}
		eventually(t, 2*time.Minute, "the releases and the HelmCharts gone", func() error {
			if got := data("demo-settings", "greeting"); got != "absent" {
				return fmt.Errorf("demo-settings still there")
			}
			if out, err := srv.kubectl("-n", "kube-system", "get", "helmcharts", "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
				return fmt.Errorf("HelmCharts left: %q %v", out, err)
			}
			rels, err := releases()
			if err == nil && len(rels) != 0 {
				err = fmt.Errorf("releases left: %+v", rels)
			}
			return err
		})
		if out := srv.mustKubectl(t, "-n", "kube-system", "get", "events", "--field-selector", "involvedObject.name=demo,reason=Uninstalled", "-o", "name"); strings.TrimSpace(out) == "" {
			t.Error("no Uninstalled Event")
		}
	}

	// --disable helm-controller lets HelmCharts go and keeps their releases
	{
		write("demo.yaml", helmChart("greeting: kept"))
		waitData("demo-settings", "greeting", "kept")
		if code := srv.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("exit code %d", code)
		}
		srv = startServer(t, dataDir, kubeconfig, "--disable-agent", "--disable", "helm-controller")
		srv.waitReady()
		eventually(t, time.Minute, "the finalizer taken off", func() error {
			if got := jsonpath("helmchart", "demo", "{.metadata.finalizers}"); strings.Contains(got, "helm.kite.io") {
				return fmt.Errorf("finalizers %q", got)
			}
			return nil
		})
		remove("demo.yaml")
		eventually(t, time.Minute, "the HelmChart deleted", func() error {
			if out, err := srv.kubectl("-n", "kube-system", "get", "helmcharts", "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
				return fmt.Errorf("HelmCharts left: %q %v", out, err)
			}
			return nil
		})
		rels, err := releases()
		if err != nil {
			t.Fatal(err)
		}
		if r := rels["helm-demo/demo"]; r.Status != "deployed" || data("demo-settings", "greeting") != "kept" {
			t.Fatalf("the release went with the HelmChart: %+v", rels)
		}
	}
}

// helmRelease is a line of `helm list -o json`.
type helmRelease struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Revision  string `json:"revision"`
	Status    string `json:"status"`
	Chart     string `json:"chart"`
}

// buildHelm builds the helm command of the Helm version in go.mod into bin,
// with the project's build settings (scripts/env).
func buildHelm(bin string) error {
	cmd := exec.Command("bash", "-c", `. scripts/env && go build -o "$1" helm.sh/helm/v3/cmd/helm`, "bash", bin)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building helm: %v\n%s", err, out)
	}
	return nil
}

// packChart makes a chart's .tgz (files under a folder named after the
// chart, as `helm package` lays them out).
func packChart(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		hdr := &tar.Header{Name: "chart/" + name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg, ModTime: time.Now()}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[name])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
