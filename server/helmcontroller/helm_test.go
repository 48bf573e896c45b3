package helmcontroller

import (
	"context"
	"errors"
	"io"
	"maps"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// hookFiles is the demo chart with a pre-install/pre-upgrade hook, through
// which the fake client can fail a stored release.
var hookFiles = func() map[string]string {
	files := maps.Clone(demoFiles)
	files["templates/hook.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hook\n" +
		"  annotations: {helm.sh/hook: \"pre-install,pre-upgrade\"}\n"
	return files
}()

// fakeHelm is Helm with releases in memory and a Kubernetes that accepts
// everything (Helm's own test doubles; no cluster).
func fakeHelm() (*action.Configuration, *kubefake.FailingKubeClient) {
	kc := &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}}
	return &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   kc,
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}, kc
}

func loadHookChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.LoadArchive(strings.NewReader(string(packChart(t, hookFiles))))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestDeployLifecycle: install, upgrade on a change, no values carried
// over, an interrupted release taken up, uninstall.
func TestDeployLifecycle(t *testing.T) {
	ctx := context.Background()
	cfg, _ := fakeHelm()
	req := func(d, hash string) request {
		return request{name: "demo", namespace: "apps", chart: loadHookChart(t), values: map[string]any{"d": d}, hash: hash}
	}
	step := func(r request, wantDid string, wantVersion int) {
		t.Helper()
		rel, did, err := deploy(ctx, cfg, r)
		if err != nil {
			t.Fatal(err)
		}
		if did != wantDid || rel.Version != wantVersion || rel.Namespace != "apps" {
			t.Fatalf("%s revision %d in %s; want %s revision %d", did, rel.Version, rel.Namespace, wantDid, wantVersion)
		}
		last, err := lastRelease(cfg.Releases, "demo")
		if err != nil || !upToDate(last, r.hash) || upToDate(last, "other") {
			t.Fatalf("after %s: last %v, err %v", did, last, err)
		}
		if !reflect.DeepEqual(last.Config, r.values) {
			t.Fatalf("release values %v, want %v", last.Config, r.values)
		}
	}
	if last, err := lastRelease(cfg.Releases, "demo"); last != nil || err != nil || upToDate(last, "h") {
		t.Fatalf("no release yet: %v %v", last, err)
	}
	step(req("one", "h1"), installed, 1)
	step(req("two", "h2"), upgraded, 2)
	// Values removed from the HelmChart are gone from the release too.
	empty := req("", "h3")
	empty.values = map[string]any{}
	step(empty, upgraded, 3)

	// Left pending by a stop in the middle of an upgrade: taken up.
	last, _ := lastRelease(cfg.Releases, "demo")
	last.SetStatus(release.StatusPendingUpgrade, "upgrading")
	if err := cfg.Releases.Update(last); err != nil {
		t.Fatal(err)
	}
	if upToDate(last, "h3") {
		t.Fatal("a pending release counts as up to date")
	}
	step(req("four", "h4"), upgraded, 4)
	if h, _ := cfg.Releases.History("demo"); len(h) != 4 {
		t.Fatalf("%d revisions", len(h))
	}

	found, err := uninstall(cfg, "demo")
	if err != nil || !found {
		t.Fatalf("uninstall: %v %v", found, err)
	}
	if last, err := lastRelease(cfg.Releases, "demo"); last != nil || err != nil {
		t.Fatalf("after uninstall: %v %v", last, err)
	}
	// Not there (any more): nothing to do, no error.
	if found, err := uninstall(cfg, "demo"); found || err != nil {
		t.Fatalf("second uninstall: %v %v", found, err)
	}
}

// TestDeployRetriesAFailedInstall: a failed install is stored as failed,
// is not up to date, and the next try upgrades it to deployed.
func TestDeployRetriesAFailedInstall(t *testing.T) {
	ctx := context.Background()
	cfg, kc := fakeHelm()
	kc.WatchUntilReadyError = errors.New("hook failed")
	r := request{name: "demo", namespace: "apps", createNamespace: true, chart: loadHookChart(t), values: map[string]any{}, hash: "h1"}
	_, did, err := deploy(ctx, cfg, r)
	if err == nil || did != installed {
		t.Fatalf("%s: err %v", did, err)
	}
	last, _ := lastRelease(cfg.Releases, "demo")
	if last == nil || last.Info.Status != release.StatusFailed || upToDate(last, "h1") {
		t.Fatalf("after a failed install: %v", last)
	}
	kc.WatchUntilReadyError = nil
	r.chart = loadHookChart(t)
	rel, did, err := deploy(ctx, cfg, r)
	if err != nil || did != upgraded || rel.Info.Status != release.StatusDeployed {
		t.Fatalf("retry: %s %v %v", did, rel, err)
	}
	if last, _ := lastRelease(cfg.Releases, "demo"); !upToDate(last, "h1") {
		t.Fatalf("after the retry: %v", last.Info.Status)
	}
}
