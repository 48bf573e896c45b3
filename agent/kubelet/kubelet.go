// Package kubelet runs the upstream kubelet in the kite process, configured
// from a KubeletConfiguration file that kite writes plus flags.
package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/kubernetes/cmd/kubelet/app"
	"k8s.io/kubernetes/cmd/kubelet/app/options"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	kubeletconfigvalidation "k8s.io/kubernetes/pkg/kubelet/apis/config/validation"
	"k8s.io/kubernetes/pkg/kubelet/eviction"
	"k8s.io/kubernetes/pkg/kubelet/kubeletconfig/configfiles"
	utilfs "k8s.io/kubernetes/pkg/util/filesystem"

	"github.com/kite-project/kite/pkg/kubeclient"
	"github.com/kite-project/kite/pkg/logging"
	"github.com/kite-project/kite/pkg/ports"
)

// Kubelet is the kubelet component. It is ready once its Node is Ready.
type Kubelet struct {
	ConfigFile string   // KubeletConfiguration
	Args       []string // kubelet flags; they take precedence over the file
	Kubeconfig string   // the kubelet's own credentials, to watch its Node
	NodeName   string
	Log        *slog.Logger

	server  *options.KubeletServer
	started time.Time
}

func (k *Kubelet) Name() string { return "kubelet" }

// Prepare loads and checks the configuration, as the kubelet command does,
// without its signal handling (which may be set up once per process).
func (k *Kubelet) Prepare(ctx context.Context) error {
	kc, err := loadConfigFile(ctx, k.ConfigFile)
	if err != nil {
		return err
	}
	kf := options.NewKubeletFlags()
	fs := pflag.NewFlagSet("kubelet", pflag.ContinueOnError)
	kf.AddFlags(fs)
	options.AddKubeletConfigFlags(fs, kc)
	original := kc.FeatureGates
	if err := fs.Parse(k.Args); err != nil {
		return fmt.Errorf("%w (check --kubelet-arg)", err)
	}
	for name, on := range original {
		if _, set := kc.FeatureGates[name]; !set {
			kc.FeatureGates[name] = on
		}
	}
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(kc.FeatureGates); err != nil {
		return err
	}
	if err := options.ValidateKubeletFlags(kf); err != nil {
		return err
	}
	if err := kubeletconfigvalidation.ValidateKubeletConfiguration(kc, utilfeature.DefaultFeatureGate); err != nil {
		return err
	}
	// The kubelet ends the whole process when its ports are taken.
	if err := ports.Free(
		ports.Port{Addr: net.JoinHostPort(kc.Address, strconv.Itoa(int(kc.Port))), What: "kubelet"},
		ports.Port{Addr: net.JoinHostPort(kc.HealthzBindAddress, strconv.Itoa(int(kc.HealthzPort))), What: "kubelet healthz"},
	); err != nil {
		return err
	}
	if kc.CgroupDriver == "cgroupfs" {
		if err := ensureCgroupRoot(kc.CgroupRoot); err != nil {
			return err
		}
	}
	k.server = &options.KubeletServer{KubeletFlags: *kf, KubeletConfiguration: *kc}
	k.started = time.Now() // before Run: Ready reads it
	return nil
}

func loadConfigFile(ctx context.Context, path string) (*kubeletconfig.KubeletConfiguration, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	loader, err := configfiles.NewFsLoader(&utilfs.DefaultFs{}, abs)
	if err != nil {
		return nil, err
	}
	kc, err := loader.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("kubelet config %s: %w", path, err)
	}
	if kc.EvictionHard == nil {
		kc.EvictionHard = eviction.DefaultEvictionHard
	}
	return kc, nil
}

// Run runs the kubelet until ctx ends. Some of its servers only stop with
// the process; kite exits right after a stop.
func (k *Kubelet) Run(ctx context.Context) error {
	ctx = logging.KlogContext(ctx, "kubelet") // its contextual klog lines name it
	deps, err := app.UnsecuredDependencies(ctx, k.server, utilfeature.DefaultFeatureGate)
	if err != nil {
		return err
	}
	if err := app.Run(ctx, k.server, deps, utilfeature.DefaultFeatureGate); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// Ready waits for the Node to be registered and Ready, as posted by this
// kubelet (after a restart the Node still shows the last run's status),
// saying every 30 s what it is waiting for.
func (k *Kubelet) Ready(ctx context.Context) error {
	cs, err := kubeclient.FromFile(k.Kubeconfig)
	if err != nil {
		return err
	}
	lastReport := time.Now()
	for {
		why := "node not registered yet"
		node, err := cs.CoreV1().Nodes().Get(ctx, k.NodeName, metav1.GetOptions{})
		if err == nil {
			for _, c := range node.Status.Conditions {
				// Heartbeats have a resolution of one second.
				fresh := !c.LastHeartbeatTime.Time.Before(k.started.Truncate(time.Second))
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue && fresh {
					return nil
				}
				if c.Type == corev1.NodeReady {
					why = c.Message
				}
			}
		}
		if time.Since(lastReport) > 30*time.Second {
			k.Log.Info("waiting for the node to be Ready", "node", k.NodeName, "reason", why)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ensureCgroupRoot makes the kubelet's --cgroup-root (cgroupfs driver) in
// every cgroup hierarchy: the kubelet refuses a root that does not exist.
// Several nodes on one host (a test lab) need a root each, or each
// kubelet removes the others' pods.
func ensureCgroupRoot(root string) error {
	if root == "" || root == "/" {
		return nil
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		// The file system type follows " - ".
		pre, post, ok := strings.Cut(line, " - ")
		fields := strings.Fields(pre)
		if !ok || len(fields) < 5 || !strings.HasPrefix(post, "cgroup") {
			continue
		}
		if err := os.MkdirAll(filepath.Join(fields[4], root), 0o755); err != nil {
			return fmt.Errorf("cannot make the kubelet's cgroup root %s: %w", root, err)
		}
	}
	return nil
}
