package helmcontroller

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

// The kinds, as K3s names them, so that K3s's HelmChart manifests apply.
var (
	chartResource  = schema.GroupVersionResource{Group: "helm.cattle.io", Version: "v1", Resource: "helmcharts"}
	configResource = schema.GroupVersionResource{Group: "helm.cattle.io", Version: "v1", Resource: "helmchartconfigs"}
	crdResource    = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// crds are the two definitions. The schemas accept any spec (K3s's other
// fields included); the controller checks the fields it reads.
const crds = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: helmcharts.helm.cattle.io
spec:
  group: helm.cattle.io
  names: {kind: HelmChart, listKind: HelmChartList, plural: helmcharts, singular: helmchart}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Chart, type: string, jsonPath: .spec.chart}
    - {name: Version, type: string, jsonPath: .spec.version}
    - {name: TargetNamespace, type: string, jsonPath: .spec.targetNamespace}
    - {name: Status, type: string, jsonPath: '.status.conditions[?(@.type=="Deployed")].reason'}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: helmchartconfigs.helm.cattle.io
spec:
  group: helm.cattle.io
  names: {kind: HelmChartConfig, listKind: HelmChartConfigList, plural: helmchartconfigs, singular: helmchartconfig}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

// ensureCRDs applies the definitions (server-side, field manager kite) and
// waits until the API serves both kinds and lists them in its discovery
// (which is what a client applying a HelmChart looks at). Errors are
// retried for a minute: the API server may still be settling at start.
func ensureCRDs(ctx context.Context, client dynamic.Interface, disc discovery.DiscoveryInterface) error {
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(crds, "\n---\n") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			return fmt.Errorf("CRD definition: %w", err) // a bug in this file
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
		list, err := disc.ServerResourcesForGroupVersion(chartResource.GroupVersion().String())
		if err != nil || !lists(list, chartResource.Resource, configResource.Resource) {
			last = fmt.Errorf("API discovery does not list the kinds yet (%v)", err)
			return false, nil
		}
		return true, nil
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("cannot install the HelmChart CRDs: %v", last)
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
