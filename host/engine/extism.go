package engine

import (
	"context"
	"path/filepath"

	"github.com/tokengate/tokengate/host"
)

// ExtismModule is the file name of the Extism module in Options.ModuleDir.
const ExtismModule = "tokengate.wasm"

func init() { Register("extism", openExtism) }

// openExtism runs the Extism module on wazero through package host, deciding on its lean ABI.
func openExtism(ctx context.Context, bundle []byte, opts Options) (Engine, error) {
	dir := opts.ModuleDir
	if dir == "" {
		dir = "build"
	}
	return host.New(ctx, host.Options{
		ModulePath: filepath.Join(dir, ExtismModule),
		CacheDir:   opts.CacheDir,
		Bundle:     bundle,
	})
}
