package memtrim

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const sample = `00400000-00401000 r--p 00000000 fe:00 9979442                            /usr/local/bin/kite
Size:                  4 kB
Anonymous:             0 kB
00401000-05aa5000 r-xp 00001000 fe:00 9979442                            /usr/local/bin/kite
Size:              89744 kB
Rss:               83280 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me dw sd
0d24e000-0d254000 r--p 0ce4e000 fe:00 9979442                            /usr/local/bin/kite
Anonymous:             8 kB
0d254000-0d43b000 rw-p 0ce54000 fe:00 9979442                            /usr/local/bin/kite
Anonymous:           556 kB
7f0000000000-7f0000100000 r--p 00000000 fe:00 12                         /usr/lib/locale/C.utf8/LC_CTYPE
Anonymous:             0 kB
7f0000200000-7f0000300000 rw-p 00000000 00:00 0 
Anonymous:          1024 kB
7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0                          [vdso]
Anonymous:             0 kB
`

func TestOnlyUnwrittenReadOnlyMappingsOfKiteAreTrimmable(t *testing.T) {
	segs, err := ParseSmaps(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 7 {
		t.Fatalf("parsed %d mappings, want 7: %+v", len(segs), segs)
	}
	var trimmable []uintptr
	for _, s := range segs {
		if s.Trimmable("/usr/local/bin/kite") {
			trimmable = append(trimmable, s.Start)
		}
	}
	// The ELF header and the code; not the relocated read-only data (it has
	// private pages that would revert to the file's), the writable data,
	// other files, anonymous memory or the vdso.
	if len(trimmable) != 2 || trimmable[0] != 0x400000 || trimmable[1] != 0x401000 {
		t.Fatalf("trimmable mappings start at %x, want 400000 and 401000", trimmable)
	}
	if segs[5].Path != "" || segs[5].Anonymous != 1024 {
		t.Fatalf("anonymous mapping parsed as %+v", segs[5])
	}
}

func TestParseSmapsRejectsAGarbledCount(t *testing.T) {
	_, err := ParseSmaps(strings.NewReader("00400000-00401000 r--p 00000000 fe:00 1 /bin/kite\nAnonymous: lots kB\n"))
	if err == nil {
		t.Fatal("no error for a count that is not a number")
	}
}

// codeResident is the resident size (kB) of this test binary's code.
func codeResident(t *testing.T) int64 {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var rss int64
	inCode := false
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && strings.Contains(f[0], "-") {
			inCode = f[1] == "r-xp" && f[5] == exe
		} else if inCode && len(f) >= 2 && f[0] == "Rss:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			rss += kb
		}
	}
	return rss
}

func TestExecutableUnmapsCodeAndTheProcessCarriesOn(t *testing.T) {
	before := codeResident(t)
	n, err := Executable()
	if err != nil {
		t.Fatal(err)
	}
	after := codeResident(t)
	if n == 0 {
		t.Fatal("nothing trimmed")
	}
	if after >= before {
		t.Fatalf("code resident %d kB after trimming, %d kB before", after, before)
	}
	// The code runs on from the page cache: a second pass works too.
	if _, err := Executable(); err != nil {
		t.Fatal(err)
	}
}

func TestUnmapExecutableLeavesThePageCache(t *testing.T) {
	// Read the whole executable into the page cache.
	if _, err := os.ReadFile("/proc/self/exe"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	size := int(st.Size() / 1024)
	before := codeResident(t)
	n, err := UnmapExecutable()
	if err != nil {
		t.Fatal(err)
	}
	if after := codeResident(t); n == 0 || after >= before {
		t.Fatalf("unmapped %d bytes; code resident %d kB after, %d kB before", n, after, before)
	}
	// What the next process running the same program needs stays cached.
	if cached := cachedKB(t, "/proc/self/exe"); cached < size*9/10 {
		t.Fatalf("only %d kB of the %d kB executable still cached after UnmapExecutable", cached, size)
	}
}

// cachedKB is how much of the file at path is in the page cache.
func cachedKB(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	// x/sys has no wrapper for mincore(2).
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n * page / 1024
}

func TestDropCachedEmptiesTheCacheOfAFileJustWritten(t *testing.T) {
	// A file just written, like a kite started right after its install:
	// all of it cached, and not yet on disk.
	path := filepath.Join(t.TempDir(), "kite")
	if err := os.WriteFile(path, bytes.Repeat([]byte("kite"), 2<<20), 0o755); err != nil {
		t.Fatal(err)
	}
	before := cachedKB(t, path)
	if before < 4<<10 {
		t.Fatalf("only %d kB of the 8 MB file cached after writing it", before)
	}
	if err := dropCached(path); err != nil {
		t.Fatal(err)
	}
	// No process maps it: all of it goes.
	if after := cachedKB(t, path); after > before/8 {
		t.Fatalf("%d kB of the file still cached after dropping it, %d kB before", after, before)
	}
}

func TestSetGCDefaultLeavesTheUsersGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "100")
	SetGCDefault()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent %d with GOGC=100 set", got)
	}
	t.Setenv("GOGC", "")
	SetGCDefault()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Fatalf("GC percent %d with no GOGC, want %d", got, GCPercent)
	}
}

func TestParseRssFile(t *testing.T) {
	got, err := parseRssFile("VmRSS:\t  9000 kB\nRssAnon:\t  1000 kB\nRssFile:\t  7936 kB\nRssShmem:\t 0 kB\n")
	if err != nil || got != 7936<<10 {
		t.Fatalf("got %d, %v; want %d", got, err, 7936<<10)
	}
	if _, err := parseRssFile("VmRSS:\t  9000 kB\n"); err == nil {
		t.Fatal("no error for a status without RssFile")
	}
}

// touchCode reads every page of this test binary's code, mapping it as a
// burst of work running code not run before would. (A read of
// /proc/self/mem faults the pages into this process's page tables.)
func touchCode(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	segs, err := ParseSmaps(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	for _, s := range segs {
		if s.Trimmable(exe) {
			if _, err := mem.ReadAt(make([]byte, s.End-s.Start), int64(s.Start)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestKeepTrimmedTrimsAgainAfterTheProcessMapsMore(t *testing.T) {
	if _, err := Executable(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 1)
	go keepTrimmed(ctx, 300*time.Millisecond, 128<<10, func(err error) { errs <- err })
	time.Sleep(50 * time.Millisecond) // let it take its base, not yet look again
	trimmed := codeResident(t)
	touchCode(t)
	touched := codeResident(t)
	if touched < trimmed+256 {
		t.Fatalf("code resident %d kB after touching it all, %d kB before", touched, trimmed)
	}
	deadline := time.Now().Add(30 * time.Second)
	for codeResident(t) > (trimmed+touched)/2 {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("code resident still %d kB, %d kB after touching it all", codeResident(t), touched)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func heapFree() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

var garbageSink [][]byte

// makeGarbage allocates ~32 MB of small objects and drops them.
func makeGarbage() {
	for i := 0; i < 250000; i++ {
		garbageSink = append(garbageSink, make([]byte, 128))
	}
	garbageSink = nil
}

func TestReleaseAfterEachGCGivesFreedPagesBack(t *testing.T) {
	// Without it, Go keeps most of what a collection frees: the reason
	// ReleaseAfterEachGC exists. If this part fails, Go no longer does,
	// and the shim may not need it.
	makeGarbage()
	runtime.GC()
	time.Sleep(time.Second)
	if free := heapFree(); free < 8<<20 {
		t.Fatalf("without ReleaseAfterEachGC a collection of 32 MB of garbage left only %d kB free and unreleased; expected Go's scavenger to keep over 8 MB", free>>10)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ReleaseAfterEachGC(ctx)
	for round := 0; round < 3; round++ {
		makeGarbage()
		// The collections makeGarbage caused are followed by releases;
		// let them finish, so that the one below comes alone, as in an
		// idle shim.
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		deadline := time.Now().Add(5 * time.Second)
		// Not 0: pages freed while a release runs wait for the next.
		for heapFree() > 4<<20 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d kB of freed heap still held 5 s after a collection", round, heapFree()>>10)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Its own extra collection must not count as one more to follow up.
	before := gcCycles()
	time.Sleep(500 * time.Millisecond)
	if n := gcCycles() - before; n > 2 {
		t.Fatalf("%d collections in 0.5 s of an idle test: each release causes the next", n)
	}
}

var allocSink []byte

// Under load GOGC goes to LoadGCPercent; once quiet it comes back to
// GCPercent.
func TestAdaptGCFollowsLoad(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		adaptGC(ctx, 20*time.Millisecond, 32<<20, 300*time.Millisecond)
	}()
	defer func() { cancel(); <-done }()

	read := func(name string) uint64 {
		s := []metrics.Sample{{Name: name}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	waitFor := func(percent uint64, load bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for read("/gc/gogc:percent") != percent {
			if time.Now().After(deadline) {
				t.Fatalf("GOGC %d, want %d (load %v)", read("/gc/gogc:percent"), percent, load)
			}
			if load {
				for range 64 { // ~64 MB in a few ms: far above 32 MB/s
					allocSink = make([]byte, 1<<20)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(LoadGCPercent, true)
	waitFor(GCPercent, false)
}
