package logging

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// redirectKlog sends klog's lines to log. klog keeps deciding which V(n)
// lines are written (-v, --vmodule): its logger is not contextual, so the
// loggers that components take from their contexts go through klog too.
func redirectKlog(log *slog.Logger, o Options) error {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	if err := fs.Set("v", strconv.Itoa(o.V)); err != nil {
		return err
	}
	if err := fs.Set("vmodule", o.VModule); err != nil {
		return fmt.Errorf("--vmodule %q: %w", o.VModule, err)
	}
	h := log.Handler()
	klog.SetLoggerWithOptions(logr.New(&klogSink{h: h}), klog.WriteKlogBuffer(func(b []byte) { writeKlogBuffer(h, b) }))
	return nil
}

// KlogContext returns ctx carrying a klog logger that names the component
// of the lines written with it (klog.FromContext).
func KlogContext(ctx context.Context, component string) context.Context {
	return klog.NewContext(ctx, klog.LoggerWithValues(klog.Background(), klogKey, component))
}

// klogKey carries KlogContext's component through klog: upstream loggers
// use the key "component" for parts of their own (the garbage collector's
// GraphBuilder), which the sink renames to "subcomponent".
const klogKey = "kite-component"

// klogSink receives klog's structured lines (InfoS, ErrorS, and those of
// the loggers components take from their contexts).
type klogSink struct {
	h      slog.Handler
	values []any
}

func (s *klogSink) Init(logr.RuntimeInfo) {}

func (s *klogSink) Enabled(int) bool { return s.h.Enabled(context.Background(), slog.LevelInfo) }

func (s *klogSink) Info(level int, msg string, kv ...any) {
	s.emit(slog.LevelInfo, level, msg, nil, kv)
}

func (s *klogSink) Error(err error, msg string, kv ...any) {
	s.emit(slog.LevelError, 0, msg, err, kv)
}

func (s *klogSink) emit(l slog.Level, v int, msg string, err error, kv []any) {
	ctx := context.Background()
	if !s.h.Enabled(ctx, l) {
		return
	}
	r := slog.NewRecord(time.Now(), l, msg, 0)
	if v > 0 {
		r.AddAttrs(slog.Int("v", v))
	}
	if err != nil {
		r.AddAttrs(slog.Any("err", err))
	}
	comp := ""
	for _, list := range [][]any{s.values, kv} {
		for i := 0; i+1 < len(list); i += 2 {
			k, _ := list[i].(string)
			switch k {
			case klogKey:
				comp, _ = list[i+1].(string)
			case Key:
				r.Add("subcomponent", list[i+1])
			default:
				r.Add(list[i], list[i+1])
			}
		}
		if len(list)%2 == 1 {
			r.Add(list[len(list)-1])
		}
	}
	if comp != "" {
		r.AddAttrs(slog.String(Key, comp))
	}
	_ = s.h.Handle(ctx, r)
}

func (s *klogSink) WithValues(kv ...any) logr.LogSink {
	n := *s
	n.values = append(append([]any(nil), s.values...), kv...)
	return &n
}

func (s *klogSink) WithName(name string) logr.LogSink {
	return s.WithValues("logger", name)
}

// writeKlogBuffer receives klog's other lines (Infof, Warning, …) with
// klog's header, "Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg": the
// header gives the level; the message is what follows it.
func writeKlogBuffer(h slog.Handler, b []byte) {
	l := slog.LevelInfo
	msg := b
	if len(b) > 0 {
		switch b[0] {
		case 'W':
			l = slog.LevelWarn
		case 'E', 'F':
			l = slog.LevelError
		}
		if i := bytes.Index(b, []byte("] ")); i >= 0 && i < 80 {
			msg = b[i+2:]
		}
	}
	ctx := context.Background()
	if !h.Enabled(ctx, l) {
		return
	}
	_ = h.Handle(ctx, slog.NewRecord(time.Now(), l, string(bytes.TrimRight(msg, "\n")), 0))
}
