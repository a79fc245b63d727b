package host

import (
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"
)

// caches holds one wazero compilation cache per cache folder ("" for the in-memory one) for
// the life of the process. Every Host shares them, so a reload or a second Host reuses the
// machine code compiled for the first and only decodes the module again.
var caches = struct {
	sync.Mutex
	byDir map[string]wazero.CompilationCache
}{byDir: map[string]wazero.CompilationCache{}}

// compilationCache returns the process-wide compilation cache for dir.
func compilationCache(dir string) (wazero.CompilationCache, error) {
	caches.Lock()
	defer caches.Unlock()
	if c, ok := caches.byDir[dir]; ok {
		return c, nil
	}
	var c wazero.CompilationCache
	if dir == "" {
		c = wazero.NewCompilationCache()
	} else {
		var err error
		if c, err = wazero.NewCompilationCacheWithDir(dir); err != nil {
			return nil, fmt.Errorf("compilation cache folder %s: %w", dir, err)
		}
	}
	caches.byDir[dir] = c
	return c, nil
}
