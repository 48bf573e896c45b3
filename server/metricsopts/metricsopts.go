// Package metricsopts holds what kite does with the upstream components'
// metrics options (--kube-apiserver-arg=disabled-metrics=… and the like).
package metricsopts

import (
	"reflect"

	"k8s.io/component-base/metrics"
)

// OrNil returns o, or nil when no metrics flag set anything. Upstream
// applies the options at start; with nothing set it logs an error ("The
// manifest file is empty, ignoring.") each time, once per component in
// kite's process. Nil options are skipped by upstream's Apply and Validate.
func OrNil(o *metrics.Options) *metrics.Options {
	if o == nil || reflect.DeepEqual(*o, *metrics.NewOptions()) {
		return nil
	}
	return o
}
