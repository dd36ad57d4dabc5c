package export_astrid_http_conformance_tests

import (
	"runtime"
	"runtime/debug"
)

// Why the garbage collector is driven by hand in this guest:
//
// When the host hands back a list or string (a body piece, headers, an error detail), it
// allocates guest memory by calling cabi_realloc while the import call is still being lowered.
// The component model forbids calling any import at that moment, but a Go allocation there
// may start a GC cycle, and the GC reads the clock (wasi clock_time_get, an import): the call
// traps with "cannot leave component instance". So automatic GC is off (and memory profiling,
// which also samples inside the allocator), and the guest collects between import calls,
// where calling the clock is allowed.

// collectEvery is how many bytes received from the host trigger a collection.
const collectEvery = 8 << 20

var receivedSinceGC uint64

func init() {
	debug.SetGCPercent(-1)
	runtime.MemProfileRate = 0
}

// received records n bytes handed over by the host and collects when enough have piled up.
// Call it only between import calls.
func received(n int) {
	receivedSinceGC += uint64(n)
	if receivedSinceGC >= collectEvery {
		receivedSinceGC = 0
		runtime.GC()
	}
}

// begin starts every export call from a collected heap: garbage of earlier calls (buffered
// bodies, upload buffers) is freed here, where the GC may read the clock.
func begin() {
	receivedSinceGC = 0
	runtime.GC()
}
