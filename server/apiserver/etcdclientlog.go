package apiserver

import (
	"log/slog"
	_ "unsafe" // for go:linkname

	"go.uber.org/zap"
	_ "k8s.io/apiserver/pkg/storage/storagebackend/factory" // holds the logger below

	"github.com/kite-project/kite/pkg/logging"
)

// etcdClientLogger is the logger of the API server's etcd clients. Package
// factory makes it in an init, as a zap logger writing JSON to stderr, and
// offers no setting for it; kite points it at the one log stream before
// the API server makes its first client. Checked by the e2e tests, which
// parse every line of a server on embedded etcd.
//
//go:linkname etcdClientLogger k8s.io/apiserver/pkg/storage/storagebackend/factory.etcd3ClientLogger
var etcdClientLogger *zap.Logger

func redirectEtcdClientLog(log *slog.Logger) {
	etcdClientLogger = logging.Zap(logging.Component(log, "apiserver")).Named("etcd-client")
}
