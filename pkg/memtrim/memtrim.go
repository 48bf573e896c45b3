// Package memtrim keeps kite's processes small: a frugal default for the
// garbage collector, and, once start-up is over, the release of what only
// start-up needed.
//
// The pages of the executable: kite is one large binary, and every kite
// process (server, containerd, each pod's shim, each `kite kubectl`) runs
// the init() of every package linked into it. Those inits are spread over
// the whole binary, so nearly all of it ends up in the page cache, and on
// each page fault the kernel also maps up to 16 cached neighbours of the
// page (fault-around): a process ends its start with nearly all of the
// binary mapped, though an idle node only ever runs a fraction of it, and
// the neighbours of every page it touches later are mapped too. So, once
// start-up is over, a process unmaps the read-only segments of the binary
// (code, constants, tables) and drops from the page cache the pages of the
// binary that no process maps any more. From then on the process maps back
// its working set and little else. This is safe because those segments are
// never written (segments with any private copy, relocated data, are left
// alone); the cost is that the dropped pages are read from disk again when
// a kite process needs them: a `kite kubectl` run just after takes ~0.3 s
// more (docs/node-agent.md).
package memtrim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// GCPercent is kite's default GOGC. Go's default, 100, lets the heap grow
// to twice what is live before collecting; for kite server's ~110 MB live
// heap that is over 100 MB of garbage held at idle. At 25 the collector
// runs about four times as often (at idle, about once a minute). It applies
// from the start: a start-up at 100 leaves the heap fragmented, ~25 MB
// more held at idle, for ~0.5 s of start-up saved (docs/node-agent.md).
const GCPercent = 25

// SetGCDefault applies GCPercent unless the user chose with $GOGC.
func SetGCDefault() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}

// Under load the frugal GOGC costs throughput: at 25 a kite server
// answering 16 API clients spends about a quarter more CPU collecting
// garbage than at 100, and writes ~25% fewer objects a second
// (docs/datastore.md). AdaptGC lifts GOGC to LoadGCPercent while the
// process allocates faster than BusyAllocRate, and puts it back, giving
// the garbage back to the system, after QuietFor below that rate.
const (
	LoadGCPercent = 100
	BusyAllocRate = 64 << 20 // bytes a second; an idle node allocates a few MB/s
	QuietFor      = 30 * time.Second
)

// AdaptGC runs until ctx ends, unless the user chose a GOGC.
func AdaptGC(ctx context.Context) {
	if os.Getenv("GOGC") != "" {
		return
	}
	// Looks five times a second: a burst of requests gets the higher GOGC
	// within a few hundred of them.
	adaptGC(ctx, 200*time.Millisecond, BusyAllocRate, QuietFor)
}

func adaptGC(ctx context.Context, every time.Duration, busyRate float64, quietFor time.Duration) {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	last, lastAt := read(), time.Now()
	var loaded bool
	var quietSince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			total := read()
			rate := float64(total-last) / now.Sub(lastAt).Seconds()
			last, lastAt = total, now
			switch {
			case rate > busyRate:
				quietSince = time.Time{}
				if !loaded {
					debug.SetGCPercent(LoadGCPercent)
					loaded = true
				}
			case loaded && quietSince.IsZero():
				quietSince = now
			case loaded && now.Sub(quietSince) >= quietFor:
				debug.SetGCPercent(GCPercent)
				debug.FreeOSMemory()
				loaded = false
				quietSince = time.Time{}
			}
		}
	}
}

// Settle is what a kite process does once its start-up is over, until
// ctx ends: give back what only start-up needed, then keep trimmed after
// bursts of work, and (adaptGC, for the API server's throughput) lift the
// GC default while load lasts. warn gets what could not be released.
// It blocks: run it in the background (right after an install the first
// release writes the binary out, seconds on an SD card).
func Settle(ctx context.Context, adaptGC bool, warn func(error)) {
	if err := AfterStartup(); err != nil {
		warn(fmt.Errorf("start-up memory: %w", err))
	}
	if adaptGC {
		go AdaptGC(ctx)
	}
	KeepTrimmed(ctx, warn)
}

// AfterStartup gives back to the system the garbage start-up left and the
// pages of the executable only start-up touched.
func AfterStartup() error {
	debug.FreeOSMemory()
	_, err := Executable()
	return err
}

// Segment is one mapping of a file, as /proc/<pid>/smaps lists it.
type Segment struct {
	Start, End uintptr
	Perms      string
	Path       string
	Anonymous  int64 // kB of private (copied-on-write) pages in the mapping
}

// Trimmable reports whether the segment can be unmapped and faulted back
// from the file unchanged: read-only, private, a mapping of exe, and no
// page of it a private copy.
func (s Segment) Trimmable(exe string) bool {
	return s.Path == exe && (s.Perms == "r-xp" || s.Perms == "r--p") && s.Anonymous == 0
}

// ParseSmaps reads the mappings in smaps format.
func ParseSmaps(r io.Reader) ([]Segment, error) {
	var segs []Segment
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if strings.HasSuffix(fields[0], ":") {
			if fields[0] == "Anonymous:" && len(segs) > 0 && len(fields) >= 2 {
				kb, err := strconv.ParseInt(fields[1], 10, 64)
				if err != nil {
					return nil, fmt.Errorf("smaps: bad line %q", line)
				}
				segs[len(segs)-1].Anonymous = kb
			}
			continue
		}
		// A mapping's header: start-end perms offset dev inode [path]
		if len(fields) < 5 {
			continue // VmFlags and the like
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		s, err1 := strconv.ParseUint(start, 16, 64)
		e, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		seg := Segment{Start: uintptr(s), End: uintptr(e), Perms: fields[1]}
		if len(fields) >= 6 {
			seg.Path = strings.Join(fields[5:], " ")
		}
		segs = append(segs, seg)
	}
	return segs, sc.Err()
}

// Executable unmaps this process's read-only mappings of its own
// executable and drops the executable's unmapped pages from the page
// cache. It returns how many bytes of address space it unmapped.
func Executable() (int64, error) {
	total, err := UnmapExecutable()
	if err != nil || total == 0 {
		return total, err
	}
	// Drop what no process maps from the cache, or fault-around maps it
	// back here. /proc/self/exe is the file this process runs even if the
	// path now names a newer kite.
	return total, dropCached("/proc/self/exe")
}

// UnmapExecutable is Executable without dropping anything from the page
// cache: for a program many processes run at once, a pod's shim, whose
// start-up pages the next pod's shim needs (dropped, they would be read
// from disk again: slow on an SD card).
func UnmapExecutable() (int64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	segs, err := ParseSmaps(f)
	f.Close()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, s := range segs {
		if !s.Trimmable(exe) {
			continue
		}
		// MADV_DONTNEED on a private file mapping with no private pages
		// drops the page table entries only; the file's pages stay cached.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, s.Start, s.End-s.Start, unix.MADV_DONTNEED); errno != 0 {
			return total, fmt.Errorf("madvise %x-%x: %w", s.Start, s.End, errno)
		}
		total += int64(s.End - s.Start)
	}
	return total, nil
}

// dropCached drops the file's pages that no process maps from the page
// cache. The kernel keeps mapped pages, and pages not yet written to disk:
// a kite installed or built moments before it started would keep its
// start-up's pages for as long as it runs, so write it out first (once it
// is on disk, that costs nothing).
func dropCached(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var errs []error
	if err := f.Sync(); err != nil {
		// Drop what is on disk all the same.
		errs = append(errs, fmt.Errorf("writing out %s before dropping its cached pages: %w", path, err))
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		errs = append(errs, fmt.Errorf("dropping the cached pages of %s: %w", path, err))
	}
	return errors.Join(errs...)
}

// KeepTrimmed trims the executable again whenever the part of it the
// process maps has grown by more than Regrowth since the last trim,
// looking every CheckEvery until ctx ends. A burst of work (a hundred pods
// starting at once) pages in code an idle process does not run again;
// re-trimming gives it back, and what the process still runs is faulted
// back in from the page cache or disk. Start it after AfterStartup.
func KeepTrimmed(ctx context.Context, onErr func(error)) {
	keepTrimmed(ctx, CheckEvery, Regrowth, onErr)
}

func keepTrimmed(ctx context.Context, every time.Duration, regrowth int64, onErr func(error)) {
	base, err := rssFile()
	if err != nil {
		onErr(err)
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now, err := rssFile()
		if err != nil {
			onErr(err)
			return
		}
		if now-base < regrowth {
			continue
		}
		if _, err := Executable(); err != nil {
			onErr(err)
		}
		if base, err = rssFile(); err != nil {
			onErr(err)
			return
		}
	}
}

// CheckEvery is how often kite's long-running processes look at how much
// of the executable they map (a read of /proc/self/status).
const CheckEvery = 20 * time.Second

// Regrowth is how much more of the executable a process may map, since
// its last trim, before KeepTrimmed trims it again: more than what an
// idle node's periodic work (status updates, probes, leases) maps in, so
// a settled process is not made to page its working set in over and over.
const Regrowth = 16 << 20

// rssFile returns the bytes of file pages this process maps (RssFile in
// /proc/self/status); for kite that is nearly all its executable.
func rssFile() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	return parseRssFile(string(b))
}

func parseRssFile(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/status: bad line %q", line)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("/proc/self/status has no RssFile line")
}
