// Package localpath names what the two halves of the local-path storage
// add-on share: the server provisions volumes (server/localstorage), each
// node announces its storage folder and removes released volumes
// (agent/localstorage).
package localpath

import "github.com/kite-project/kite/pkg/datadir"

const (
	// Provisioner is the provisioner name of local-path StorageClasses
	// (K3s's, so manifests written for K3s work).
	Provisioner = "rancher.io/local-path"
	// PathAnnotation, on a Node, is the folder its local volumes live in.
	PathAnnotation = "kite.io/local-storage-path"
	// ProvisionedBy is the upstream annotation naming a volume's provisioner.
	ProvisionedBy = "pv.kubernetes.io/provisioned-by"
)

// DefaultPath is assumed for a node that has not announced a folder: the
// storage folder of the default data dir.
var DefaultPath = datadir.New(datadir.Default).StorageDir()
