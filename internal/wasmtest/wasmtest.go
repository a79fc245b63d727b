// Package wasmtest builds the tokengate module for tests, so `go test` works without
// `make build` first.
package wasmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// BuildTimeout bounds one build of the module. A cold build takes about 10 seconds on two
// cores and a warm one (Go build cache filled) about 2.
const BuildTimeout = 3 * time.Minute

// ModulePackage is the import path of the module's main package.
const ModulePackage = "github.com/tokengate/tokengate/wasm"

// Build compiles ModulePackage with GOOS=wasip1 GOARCH=wasm in c-shared mode into
// dir/tokengate.wasm and returns that path.
func Build(dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	out := filepath.Join(dir, "tokengate.wasm")
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-o", out, ModulePackage)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if output, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("build %s timed out after %s", ModulePackage, BuildTimeout)
		}
		return "", fmt.Errorf("build %s: %w\n%s", ModulePackage, err, output)
	}
	return out, nil
}

// Main builds the module into a temporary folder, stores its path in *path, runs the tests
// and removes the folder. Call it from TestMain. A failed build exits with status 1.
func Main(run func() int, path *string) int {
	dir, err := os.MkdirTemp("", "tokengate-wasm-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmtest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *path, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "wasmtest:", err)
		return 1
	}
	return run()
}
