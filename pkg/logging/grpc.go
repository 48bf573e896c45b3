package logging

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc/grpclog"
)

// redirectGRPC sends grpc's log (the etcd client's connections in the API
// server, containerd's client) to log with component grpc: its warnings
// and errors; its informational lines only at --log-level debug.
func redirectGRPC(log *slog.Logger) {
	grpclog.SetLoggerV2(grpcLogger{h: Component(log, "grpc").Handler()})
}

type grpcLogger struct{ h slog.Handler }

func (g grpcLogger) log(l slog.Level, msg string) {
	ctx := context.Background()
	if g.h.Enabled(ctx, l) {
		_ = g.h.Handle(ctx, slog.NewRecord(time.Now(), l, msg, 0))
	}
}

func (g grpcLogger) Info(args ...any)   { g.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Infoln(args ...any) { g.log(slog.LevelDebug, sprintln(args...)) }
func (g grpcLogger) Infof(format string, args ...any) {
	g.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (g grpcLogger) Warning(args ...any)   { g.warn(fmt.Sprint(args...)) }
func (g grpcLogger) Warningln(args ...any) { g.warn(sprintln(args...)) }
func (g grpcLogger) Warningf(format string, args ...any) {
	g.warn(fmt.Sprintf(format, args...))
}

// warn logs a warning, but a server's RPC whose client hung up ("transport
// is closing") only at debug: every stop of the API server leaves dozens
// of them in embedded etcd's gRPC server, and none is a fault.
func (g grpcLogger) warn(msg string) {
	if strings.Contains(msg, "transport is closing") {
		g.log(slog.LevelDebug, msg)
		return
	}
	g.log(slog.LevelWarn, msg)
}
func (g grpcLogger) Error(args ...any)   { g.log(slog.LevelError, fmt.Sprint(args...)) }
func (g grpcLogger) Errorln(args ...any) { g.log(slog.LevelError, sprintln(args...)) }
func (g grpcLogger) Errorf(format string, args ...any) {
	g.log(slog.LevelError, fmt.Sprintf(format, args...))
}
func (g grpcLogger) Fatal(args ...any)   { g.log(slog.LevelError, fmt.Sprint(args...)); os.Exit(1) }
func (g grpcLogger) Fatalln(args ...any) { g.log(slog.LevelError, sprintln(args...)); os.Exit(1) }
func (g grpcLogger) Fatalf(format string, args ...any) {
	g.log(slog.LevelError, fmt.Sprintf(format, args...))
	os.Exit(1)
}

// V reports whether grpc's verbose lines are wanted: only at debug.
func (g grpcLogger) V(l int) bool {
	return l <= 0 || g.h.Enabled(context.Background(), slog.LevelDebug)
}

func sprintln(args ...any) string {
	s := fmt.Sprintln(args...)
	return s[:len(s)-1]
}
