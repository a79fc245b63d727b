//go:build unix

package tokenadmin

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockPollInterval is how often lockFile retries a lock that another process holds.
const lockPollInterval = 5 * time.Millisecond

// lockFile takes an exclusive flock on the file at path, creating it with mode 0600 if needed,
// and waits at most timeout for another holder to release it. Closing the returned file
// releases the lock. flock locks belong to the open file, so two opens in one process exclude
// each other just as two processes do.
func lockFile(path string, timeout time.Duration) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: timed out after %s because another process holds it: retry, or look for a stuck tokengate process", path, timeout)
		}
		time.Sleep(lockPollInterval)
	}
}
