package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/kite-project/kite/pkg/memlimit"
)

// ignoreMemoryMinimum is the environment variable that lets kite start
// below the memory it is measured to need.
const ignoreMemoryMinimum = "KITE_IGNORE_MEMORY_MINIMUM"

// checkMemory finds the memory kite may use, logs it, and refuses to start
// below need (what: the part that needs it): there kite would page its
// own code in and out for minutes instead of working (docs/small-boards.md).
func checkMemory(log *slog.Logger, need int64, what string) error {
	lim, err := memlimit.Detect("")
	if err != nil {
		log.Warn("cannot tell how much memory kite may use", "err", err)
		return nil
	}
	log.Info("memory limit", "mb", lim.MB(), "from", lim.Source)
	if lim.Bytes >= need {
		return nil
	}
	if os.Getenv(ignoreMemoryMinimum) == "true" {
		log.Warn("less memory than kite needs; starting anyway", "mb", lim.MB(), "need-mb", need>>20, "env", ignoreMemoryMinimum)
		return nil
	}
	return fmt.Errorf("%s needs at least %d MB of memory and may use only %d MB here (%s): give it more memory (docs/small-boards.md), or set %s=true to start anyway",
		what, need>>20, lim.MB(), lim.Source, ignoreMemoryMinimum)
}
