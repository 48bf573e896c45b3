package main

import (
	"context"
	"log/slog"

	"github.com/kite-project/kite/pkg/memtrim"
	"github.com/kite-project/kite/pkg/sdnotify"
)

// settle is the process-wide work of kite server and kite agent once they
// are ready: tell systemd (Type=notify), then, in the background, give
// back start-up memory and keep it trimmed (the server also adapts its GC
// to load: memtrim.AdaptGC).
func settle(ctx context.Context, log *slog.Logger, server bool) {
	sdnotify.NotifyReady(log)
	go memtrim.Settle(ctx, server, func(err error) {
		log.Warn("could not release memory", "err", err)
	})
}
