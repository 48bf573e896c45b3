package metricsopts

import (
	"testing"

	"github.com/spf13/pflag"
	"k8s.io/component-base/metrics"
)

func parsed(t *testing.T, args ...string) *metrics.Options {
	t.Helper()
	o := metrics.NewOptions()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestNoFlagsMeansNothingToApply(t *testing.T) {
	if o := OrNil(parsed(t)); o != nil {
		t.Errorf("no metrics flag: got %+v, want nil", *o)
	}
}

// A user's metrics flag is kept and applied as upstream would.
func TestAUsersFlagIsKept(t *testing.T) {
	for _, args := range [][]string{
		{"--disabled-metrics=apiserver_request_total"},
		{"--show-hidden-metrics-for-version=1.36"},
		{"--allow-metric-labels=metric1,label1='v1'"},
	} {
		o := parsed(t, args...)
		if OrNil(o) != o {
			t.Errorf("%v: the options were dropped", args)
		}
	}
}
