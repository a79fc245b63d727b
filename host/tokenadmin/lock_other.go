//go:build !unix

package tokenadmin

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

// lockFile always fails: the store lock uses flock, which this platform lacks, and writing the
// store without the lock could lose a concurrent change.
func lockFile(path string, _ time.Duration) (*os.File, error) {
	return nil, fmt.Errorf("lock %s: file locking is not supported on %s: administer tokens from a Unix host", path, runtime.GOOS)
}
