package logging

import (
	"context"
	"io"
	"log/slog"

	"github.com/sirupsen/logrus"
)

// redirectLogrus sends the lines of logrus's standard logger (kine,
// remotedialer, containerd's client and, in `kite containerd`, containerd)
// to log, each placed by its caller's stack.
func redirectLogrus(log *slog.Logger) {
	h := log.Handler()
	logrus.SetOutput(io.Discard)
	logrus.SetLevel(logrusLevel(h))
	logrus.StandardLogger().ReplaceHooks(logrus.LevelHooks{})
	logrus.AddHook(logrusHook{h: h})
}

// logrusLevel is the most verbose level h writes.
func logrusLevel(h slog.Handler) logrus.Level {
	ctx := context.Background()
	switch {
	case h.Enabled(ctx, slog.LevelDebug):
		return logrus.DebugLevel
	case h.Enabled(ctx, slog.LevelInfo):
		return logrus.InfoLevel
	case h.Enabled(ctx, slog.LevelWarn):
		return logrus.WarnLevel
	}
	return logrus.ErrorLevel
}

type logrusHook struct{ h slog.Handler }

func (logrusHook) Levels() []logrus.Level { return logrus.AllLevels }

func (k logrusHook) Fire(e *logrus.Entry) error {
	var l slog.Level
	switch e.Level {
	case logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel:
		l = slog.LevelError
	case logrus.WarnLevel:
		l = slog.LevelWarn
	case logrus.InfoLevel:
		l = slog.LevelInfo
	default:
		l = slog.LevelDebug
	}
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if !k.h.Enabled(ctx, l) {
		return nil
	}
	r := slog.NewRecord(e.Time, l, e.Message, 0)
	for key, v := range e.Data {
		if err, ok := v.(error); ok {
			v = err.Error()
		}
		r.AddAttrs(slog.Any(key, v))
	}
	return k.h.Handle(ctx, r)
}
