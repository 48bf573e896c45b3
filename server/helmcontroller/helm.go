package helmcontroller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

const (
	// timeout bounds the hooks of an install, upgrade or uninstall (Helm
	// does not wait for the resources themselves: no --wait).
	timeout = 5 * time.Minute
	// maxHistory is how many revisions of a release Helm keeps, as
	// `helm upgrade --history-max` does by default.
	maxHistory = 10
)

// What a deploy did, as the reason of its Event and condition (on failure
// InstallFailed, UpgradeFailed).
const (
	installed = "Installed"
	upgraded  = "Upgraded"
)

// hashLabel, on a release, holds the configHash of its chart and values.
// Kept with the release (and read from the API, not from a cache), it
// tells at once, after a restart too, whether the release is up to date.
const hashLabel = "kite.io/config-hash"

// request is one release to bring to a chart and values.
type request struct {
	name, namespace string
	createNamespace bool
	chart           *chart.Chart
	values          map[string]any
	hash            string // configHash of chart and values
}

// upToDate tells whether the release last needs nothing for hash.
func upToDate(last *release.Release, hash string) bool {
	return last != nil && last.Info.Status == release.StatusDeployed && last.Labels[hashLabel] == hash
}

// deploy installs the release when there is none, else upgrades it (a
// failed release included: the upgrade is the retry). It returns what it
// did (installed or upgraded) even on failure.
func deploy(ctx context.Context, cfg *action.Configuration, r request) (*release.Release, string, error) {
	last, err := lastRelease(cfg.Releases, r.name)
	if err != nil {
		return nil, installed, err
	}
	if last != nil && (last.Info.Status.IsPending() || last.Info.Status == release.StatusUninstalling) {
		// Left half done (kite stopped in the middle); nothing else drives
		// this release, so it is marked failed, which Helm can go on from.
		last.SetStatus(release.StatusFailed, "interrupted while "+last.Info.Status.String()+"; kite retries")
		if err := cfg.Releases.Update(last); err != nil {
			return nil, upgraded, err
		}
	}
	if last == nil || last.Info.Status == release.StatusUninstalled {
		in := action.NewInstall(cfg)
		in.ReleaseName, in.Namespace = r.name, r.namespace
		in.CreateNamespace = r.createNamespace
		in.Replace = true // reuses a name whose history was kept by `helm uninstall --keep-history`
		in.Timeout = timeout
		in.Labels = map[string]string{hashLabel: r.hash}
		rel, err := in.RunWithContext(ctx, r.chart, r.values)
		return rel, installed, err
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = r.namespace
	up.ResetValues = true // the HelmChart says it all: no values carried over
	up.MaxHistory = maxHistory
	up.Timeout = timeout
	up.Labels = map[string]string{hashLabel: r.hash}
	rel, err := up.RunWithContext(ctx, r.name, r.chart, r.values)
	return rel, upgraded, err
}

// uninstall removes the release; it reports whether there was one.
func uninstall(cfg *action.Configuration, name string) (bool, error) {
	// Looked up first: Helm's IgnoreNotFound would also ignore an API error,
	// and the HelmChart would go while its release stays.
	last, err := lastRelease(cfg.Releases, name)
	if err != nil || last == nil {
		return false, err
	}
	un := action.NewUninstall(cfg)
	un.Timeout = timeout
	if _, err := un.Run(name); err != nil {
		return true, err
	}
	return true, nil
}

// lastRelease is the latest revision of a release, nil if it has none.
func lastRelease(s *storage.Storage, name string) (*release.Release, error) {
	h, err := s.History(name)
	if errors.Is(err, driver.ErrReleaseNotFound) || err == nil && len(h) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", name, err)
	}
	return slices.MaxFunc(h, func(a, b *release.Release) int { return a.Version - b.Version }), nil
}

// helmConfig is Helm's configuration for one operation on releases in
// namespace, stored as Secrets (as the helm command does by default, so
// `helm list -A` shows them). Made anew for each operation: Helm caches
// the API's kinds, and a CRD created since must be seen.
func helmConfig(kubeconfig, cacheDir, namespace string, log *slog.Logger) (*action.Configuration, error) {
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &kubeconfig
	flags.Namespace = &namespace
	flags.CacheDir = &cacheDir
	cfg := new(action.Configuration)
	debug := func(format string, v ...any) { log.Debug("helm: "+fmt.Sprintf(format, v...), "namespace", namespace) }
	if err := cfg.Init(flags, namespace, "secret", debug); err != nil {
		return nil, err
	}
	return cfg, nil
}
