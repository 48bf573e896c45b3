package config

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/robfig/cron/v3"
)

// Defaults of the scheduled etcd snapshots, as K3s's.
const (
	DefaultSnapshotSchedule  = "0 */12 * * *"
	DefaultSnapshotRetention = 5
)

// EtcdSnapshots are a server's scheduled etcd snapshots.
type EtcdSnapshots struct {
	Disable   bool   // no scheduled snapshots (kite etcd-snapshot save still works)
	Schedule  string // cron, five fields
	Retention int    // scheduled snapshots kept
	Dir       string // "": <data-dir>/server/db/snapshots
	Compress  bool
}

func (e *EtcdSnapshots) validate(add func(string, ...any)) {
	if _, err := cron.ParseStandard(e.Schedule); err != nil {
		add("--etcd-snapshot-schedule-cron %q: %v; give five cron fields, e.g. %q (every 12 hours)", e.Schedule, err, DefaultSnapshotSchedule)
	}
	if e.Retention < 1 {
		add("--etcd-snapshot-retention %d: keep at least 1 snapshot (default %d)", e.Retention, DefaultSnapshotRetention)
	}
	if e.Dir != "" {
		if abs, err := filepath.Abs(e.Dir); err == nil {
			e.Dir = abs
		}
	}
}

// SnapshotDir is where the server keeps its etcd snapshots.
func (s *Server) SnapshotDir() string {
	if s.EtcdSnapshots.Dir != "" {
		return s.EtcdSnapshots.Dir
	}
	return s.Layout().SnapshotsDir()
}

// SnapshotNode names this server in its snapshots' names: the node name
// (--node-name), else the host name, lower-cased.
func SnapshotNode(nodeName string) string {
	if nodeName != "" {
		return nodeName
	}
	host, _ := os.Hostname()
	return strings.ToLower(host)
}
