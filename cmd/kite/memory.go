package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/kite-project/kite/pkg/memlimit"
)

// ignoreMemoryMinimum is the environment variable that lets kite start
// below the memory it is measured to need.
const ignoreMemoryMinimum = "KITE_IGNORE_MEMORY_MINIMUM"

// checkMemory finds the memory kite may use, logs it, and refuses to start
// below need (what: the part that needs it): there kite would page its
// own code in and out for minutes instead of working (docs/small-boards.md).
// It returns the limit found (zero if none could be read).
func checkMemory(log *slog.Logger, need int64, what string) (memlimit.Limit, error) {
	lim, err := memlimit.Detect("")
	if err != nil {
		log.Warn("cannot tell how much memory kite may use", "err", err)
		return memlimit.Limit{}, nil
	}
	log.Info("memory limit", "mb", lim.MB(), "from", lim.Source)
	if lim.Bytes >= need {
		return lim, nil
	}
	if os.Getenv(ignoreMemoryMinimum) == "true" {
		log.Warn("less memory than kite needs; starting anyway", "mb", lim.MB(), "need-mb", need>>20, "env", ignoreMemoryMinimum)
		return lim, nil
	}
	return lim, fmt.Errorf("%s needs at least %d MB of memory and may use only %d MB here (%s): give it more memory (docs/small-boards.md), or set %s=true to start anyway",
		what, need>>20, lim.MB(), lim.Source, ignoreMemoryMinimum)
}

// setServerGoLimit holds kite server's own Go memory to what its limit
// leaves beside the node (memlimit.ServerGoLimit), unless the user chose
// with $GOMEMLIMIT, which Go's runtime has applied already.
func setServerGoLimit(log *slog.Logger, lim memlimit.Limit) {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info("Go memory limit from GOMEMLIMIT", "value", v)
		return
	}
	if lim.Bytes == 0 {
		return
	}
	goLimit := memlimit.ServerGoLimit(lim)
	debug.SetMemoryLimit(goLimit)
	log.Info("Go memory limit", "mb", goLimit>>20, "of", lim.MB(), "reserved-for-node-mb", memlimit.NodeReserve>>20)
}
