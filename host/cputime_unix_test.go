//go:build unix

package host_test

import (
	"syscall"
	"time"
)

// processCPUTime returns the user and system CPU time of the process so far.
func processCPUTime() (time.Duration, bool) {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0, false
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano()), true
}
