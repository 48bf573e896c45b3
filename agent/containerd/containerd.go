package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kite-project/kite/pkg/logging"
)

// Containerd is the container runtime component. It runs containerd as a
// child process of kite (`kite containerd`): containerd installs its own
// signal handlers and process-wide settings and does not stop on a context,
// so it gets a process of its own. Pod shims are started in their own
// process groups and outlive it, so a restart of kite adopts running pods.
type Containerd struct {
	Config Config
	Exe    string // the kite binary
	// Log re-emits containerd's lines (component containerd); nil:
	// slog's default.
	Log *slog.Logger

	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

func (c *Containerd) Name() string { return "containerd" }

// LogFile is containerd's own log.
func (c *Containerd) LogFile() string { return c.Config.LogFile }

func (c *Containerd) Prepare(ctx context.Context) error {
	for _, d := range []string{c.Config.Dir, c.Config.Root, c.Config.State, c.Config.CNIConfDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	if err := checkSocketFree(c.Config.Socket); err != nil {
		return err
	}
	data, err := c.Config.Render()
	if err != nil {
		return err
	}
	return os.WriteFile(c.Config.ConfigFile, data, 0o600)
}

// checkSocketFree fails when another containerd answers on our socket, and
// removes a stale socket file nobody answers on.
func checkSocketFree(sock string) error {
	conn, err := net.DialTimeout("unix", sock, time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("containerd socket %s is in use by another process (another kite agent on this data dir?); stop it, or use another --data-dir", sock)
	}
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (c *Containerd) Run(ctx context.Context) error {
	logFile, err := os.OpenFile(c.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	c.cmd = exec.Command(c.Exe, "containerd", "--config", c.Config.ConfigFile)
	// The child logs through kite's pkg/logging, in JSON; its lines (and
	// its shims' lines, which it copies to its stderr) are written again
	// here, as kite's, and kept as they came in the log file.
	out, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer out.Close()
	c.cmd.Stdout, c.cmd.Stderr = w, w
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	go logging.Reemit(out, logging.Component(log, "containerd"), logFile)
	// If kite dies, containerd follows; the shims, in their own process
	// groups, keep the pods running. The kernel sends Pdeathsig when the
	// *thread* that started the child ends, so this goroutine keeps its
	// thread until containerd is stopped.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	// On a restart containerd finds the shims of running pods by name on
	// its PATH, not through the CRI runtime_path: put kite's programs first.
	c.cmd.Env = append(os.Environ(),
		"PATH="+c.Config.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"NOTIFY_SOCKET=", // kite, not containerd, reports to systemd
		logging.EnvFormat+"=json",
	)
	c.exited = make(chan struct{})
	err = c.cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	select {
	case <-c.exited:
		return fmt.Errorf("containerd exited (%v); see %s", c.err, c.LogFile())
	case <-ctx.Done():
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
	return nil
}

// SettledSignal tells the `kite containerd` child that the node has started,
// so it can release the pages only its start-up used (pkg/memtrim).
// containerd itself leaves SIGUSR2 alone.
const SettledSignal = syscall.SIGUSR2

// Settled passes the end of the node's start-up on to the child.
func (c *Containerd) Settled() {
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(SettledSignal)
	}
}

// Ready waits for containerd to answer on its socket.
func (c *Containerd) Ready(ctx context.Context) error {
	for {
		if c.exited != nil {
			select {
			case <-c.exited:
				return fmt.Errorf("containerd exited (%v): %s", c.err, tailFile(c.LogFile(), 1500))
			default:
			}
		}
		if err := ping(ctx, c.Config.Socket); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ping(ctx context.Context, sock string) error {
	if _, err := os.Stat(sock); err != nil {
		return err
	}
	cl, err := client.New(sock, client.WithTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err = cl.Version(pctx); err != nil {
		return err
	}
	// The CRI plugin answers only once it has started (after a restart,
	// once it has found the running pods again): the kubelet, started
	// next, gives up at once on an "not initialized yet".
	conn, ok := cl.Conn().(grpc.ClientConnInterface)
	if !ok {
		return fmt.Errorf("containerd client connection is a %T", cl.Conn())
	}
	_, err = runtimeapi.NewRuntimeServiceClient(conn).Version(pctx, &runtimeapi.VersionRequest{})
	return err
}

func tailFile(path string, n int) string {
	data, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(data))
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}
