// Package crd installs the CustomResourceDefinitions of kite's own
// controllers (the Helm controller's, the etcd snapshots').
package crd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// Install applies the definitions in docs (YAML documents separated by
// ---; server-side, as fieldManager) and waits until the API serves them
// and its discovery lists the resources of gv (which is what a client
// applying an object of them looks at). Errors are retried for a minute:
// the API server may still be settling at start.
func Install(ctx context.Context, client dynamic.Interface, disc discovery.DiscoveryInterface, fieldManager, docs string, gv schema.GroupVersion, resources ...string) error {
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(docs, "\n---\n") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			return fmt.Errorf("CRD definition: %w", err) // a bug in the caller
		}
		objs = append(objs, obj)
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, obj := range objs {
			crd, err := client.Resource(crdResource).Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
			if err != nil {
				last = err
				return false, nil
			}
			if !established(crd) {
				last = fmt.Errorf("%s is not established yet", obj.GetName())
				return false, nil
			}
		}
		list, err := disc.ServerResourcesForGroupVersion(gv.String())
		if err != nil || !lists(list, resources...) {
			last = fmt.Errorf("API discovery does not list the kinds yet (%v)", err)
			return false, nil
		}
		return true, nil
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("cannot install the CRDs of %s: %v", gv, last)
	}
	return err
}

func lists(list *metav1.APIResourceList, resources ...string) bool {
	for _, r := range resources {
		if !slices.ContainsFunc(list.APIResources, func(a metav1.APIResource) bool { return a.Name == r }) {
			return false
		}
	}
	return true
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}
