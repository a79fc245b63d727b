package bench

import (
	"runtime"
	"syscall"
	"time"

	"github.com/tokengate/tokengate/core"
)

// maxRotation is the most distinct tokens that a scale benchmark cycles through. 4,096 tokens
// with their index entries exceed a typical 512 KiB L2 cache, so lookups in a large store pay
// the cache misses that real traffic from many clients pays.
const maxRotation = 4096

// RotationRequests returns allowed requests for up to maxRotation distinct USER tokens of a
// store of n generated tokens, spread evenly over the store.
func RotationRequests(n int) []core.Request {
	users := (n + 1) / 2 // even indexes are USER tokens
	count := min(users, maxRotation)
	step := users / count
	reqs := make([]core.Request, count)
	for i := range reqs {
		reqs[i] = AllowRequest(Secret(2 * i * step))
	}
	return reqs
}

// HeapInUse returns the bytes of live heap after a full garbage collection.
func HeapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// ProcessCPUTime returns the user and system CPU time of the process so far, garbage
// collection threads included. On a shared machine it is steadier than wall time.
func ProcessCPUTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
