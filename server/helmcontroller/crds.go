package helmcontroller

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/kite-project/kite/server/crd"
)

// The kinds, as K3s names them, so that K3s's HelmChart manifests apply.
var (
	chartResource  = schema.GroupVersionResource{Group: "helm.cattle.io", Version: "v1", Resource: "helmcharts"}
	configResource = schema.GroupVersionResource{Group: "helm.cattle.io", Version: "v1", Resource: "helmchartconfigs"}
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

// ensureCRDs installs the two definitions and waits until the API serves
// them.
func ensureCRDs(ctx context.Context, client dynamic.Interface, disc discovery.DiscoveryInterface) error {
	return crd.Install(ctx, client, disc, fieldManager, crds, chartResource.GroupVersion(), chartResource.Resource, configResource.Resource)
}
