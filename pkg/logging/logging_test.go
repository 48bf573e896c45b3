package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"go.uber.org/zap"
	"k8s.io/klog/v2"
)

func lines(t *testing.T, b *bytes.Buffer) []string {
	t.Helper()
	return strings.Split(strings.TrimSpace(b.String()), "\n")
}

func TestComponentReplaced(t *testing.T) {
	var b bytes.Buffer
	log, err := New(&b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	Component(Component(log, "kite").With("a", 1), "kubelet").Info("hello", "b", 2)
	got := lines(t, &b)[0]
	if strings.Count(got, "component=") != 1 || !strings.Contains(got, `msg=hello component=kubelet a=1 b=2`) {
		t.Fatalf("got %q", got)
	}
	b.Reset()
	log.Info("no component") // placed by the stack: the test is no one's
	if got := lines(t, &b)[0]; !strings.Contains(got, "component=kite") {
		t.Fatalf("got %q", got)
	}
	b.Reset()
	log.WithGroup("g").With(Key, "inner").Info("x", Key, "rec")
	if got := lines(t, &b)[0]; !strings.Contains(got, "msg=x component=rec g.component=inner") {
		t.Fatalf("got %q", got)
	}
}

func TestJSONAndLevel(t *testing.T) {
	var b bytes.Buffer
	log, err := New(&b, Options{Format: "json", Level: "warn"})
	if err != nil {
		t.Fatal(err)
	}
	Component(log, "kine").Info("dropped")
	Component(log, "kine").Warn("kept", "n", 1)
	var m map[string]any
	if err := json.Unmarshal([]byte(lines(t, &b)[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m["component"] != "kine" || m["msg"] != "kept" || m["level"] != "WARN" || len(lines(t, &b)) != 1 {
		t.Fatalf("got %s", b.String())
	}
	if _, err := New(&b, Options{Format: "xml"}); err == nil {
		t.Fatal("xml accepted")
	}
	if (Options{Level: "loud"}).Validate() == nil {
		t.Fatal("level loud accepted")
	}
}

func TestOf(t *testing.T) {
	for fn, want := range map[string]string{
		"k8s.io/kubernetes/pkg/kubelet.(*Kubelet).syncLoop":                              "kubelet",
		"k8s.io/kubernetes/pkg/kubelet/kuberuntime.(*kubeGenericRuntimeManager).SyncPod": "kubelet",
		"k8s.io/kubernetes/pkg/kubeletx.f":                                               "kite",
		"k8s.io/kubernetes/pkg/scheduler.(*Scheduler).Run":                               "scheduler",
		"k8s.io/kubernetes/pkg/controller/garbagecollector.(*GarbageCollector).Run":      "controller-manager",
		"k8s.io/kubernetes/pkg/proxy/nftables.(*Proxier).syncProxyRules":                 "kube-proxy",
		"k8s.io/apiserver/pkg/server.(*GenericAPIServer).Run":                            "apiserver",
		"k8s.io/client-go/tools/cache.(*Reflector).ListAndWatch":                         "client-go",
		"github.com/flannel-io/flannel/pkg/subnet/kube.(*kubeSubnetManager).Run":         "flannel",
		"github.com/k3s-io/kine/pkg/server.(*KVServerBridge).Watch":                      "kine",
		"github.com/rancher/remotedialer.(*Session).serve":                               "tunnel",
		"github.com/kite-project/kite/agent/kubelet.(*Kubelet).Run":                      "kubelet",
		"main.main": "kite",
		"github.com/kite-project/kite/server/tunnel.(*Tunnel).serve": "tunnel",
		"github.com/kite-project/kite/server.Run":                    "kite",
	} {
		if got := Of(fn); got != want {
			t.Errorf("Of(%s) = %s, want %s", fn, got, want)
		}
	}
}

func TestBridges(t *testing.T) {
	var b bytes.Buffer
	if _, err := SetupWriter(&b, Options{V: 2}); err != nil {
		t.Fatal(err)
	}
	defer klog.ClearLogger()
	klog.Infof("plain %d", 1)
	klog.Warning("careful")
	klog.V(2).InfoS("verbose", "k", "v")
	klog.V(3).InfoS("too verbose")
	klog.ErrorS(context.Canceled, "failed")
	klog.FromContext(KlogContext(context.Background(), "scheduler")).Info("contextual", "x", 1, Key, "GraphBuilder")
	logrus.WithField("f", "g").Warn("from logrus")
	slog.Info("from slog's default")
	want := []string{
		`level=INFO msg="plain 1" component=kite`,
		`level=WARN msg=careful component=kite`,
		`level=INFO msg=verbose component=kite v=2 k=v`,
		`level=ERROR msg=failed component=kite err="context canceled"`,
		`level=INFO msg=contextual component=scheduler x=1 subcomponent=GraphBuilder`,
		`level=WARN msg="from logrus" component=kite f=g`,
		`level=INFO msg="from slog's default" component=kite`,
	}
	got := lines(t, &b)
	if len(got) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(got), b.String())
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("line %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

func TestReemit(t *testing.T) {
	var b, raw bytes.Buffer
	log, _ := New(&b, Options{})
	in := `{"time":"2026-01-02T03:04:05.000000006Z","level":"WARN","msg":"from the child","component":"containerd","n":3}
time="2026-01-02T03:04:05Z" level=info msg="shim started" runtime=io.containerd.runc.v2
panic: something
`
	Reemit(strings.NewReader(in), Component(log, "containerd"), &raw)
	got := lines(t, &b)
	want := []string{
		`time=2026-01-02T03:04:05.000Z level=WARN msg="from the child" component=containerd n=3`,
		`time=2026-01-02T03:04:05.000Z level=INFO msg="shim started" component=containerd runtime=io.containerd.runc.v2`,
		`level=INFO msg="panic: something" component=containerd`,
	}
	for i := range want {
		if i >= len(got) || !strings.Contains(got[i], want[i]) {
			t.Fatalf("got:\n%s", b.String())
		}
	}
	if raw.String() != in {
		t.Fatalf("raw copy %q", raw.String())
	}
}

func TestParseText(t *testing.T) {
	f, err := ParseText(`time=2026 level=INFO msg="a \"b\"" component=kite k= "a key"=v`)
	if err != nil || len(f) != 6 || f[2].Value != `a "b"` || f[4].Value != "" || f[5].Key != "a key" {
		t.Fatalf("%v %v", f, err)
	}
	for _, bad := range []string{"I0102 12:00 file.go:1] klog", `a="x"b`, "plain words", `k=a"b`} {
		if _, err := ParseText(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestZap(t *testing.T) {
	var b bytes.Buffer
	log, err := New(&b, Options{Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	z := Zap(Component(log, "etcd")).Named("raft").With(zap.String("member", "m1"))
	z.Debug("dropped at info")
	z.Warn("slow apply", zap.Duration("took", 1500*time.Millisecond), zap.Error(errors.New("disk")))
	got := lines(t, &b)
	if len(got) != 1 {
		t.Fatalf("want one line, got %q", got)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(got[0]), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"component": "etcd", "level": "WARN", "msg": "slow apply", "logger": "raft", "member": "m1", "took": "1.5s", "error": "disk"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v (line %s)", k, m[k], v, got[0])
		}
	}
}

// TestGRPCHungUpClientIsDebug: gRPC's warning for an RPC whose client hung
// up is not a warning (dozens at every API server stop); others are.
func TestGRPCHungUpClientIsDebug(t *testing.T) {
	var b bytes.Buffer
	log, err := SetupWriter(&b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := grpcLogger{h: Component(log, "grpc").Handler()}
	g.Warningf("[core] [Server #4] grpc: Server.processRPC failed to write status: connection error: desc = %q", "transport is closing")
	g.Warning("[core] addrConn.createTransport failed to connect")
	got := lines(t, &b)
	if len(got) != 1 || !strings.Contains(got[0], "level=WARN") || !strings.Contains(got[0], "createTransport") {
		t.Errorf("got %q, want only the connection warning", got)
	}
}
