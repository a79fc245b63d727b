// Command wasirun runs a wasip1 program on wazero, so that `go test` can run a package's tests
// and benchmarks as WebAssembly on the same runtime as the tokengate host:
//
//	go build -o build/wasirun ./internal/wasirun
//	GOOS=wasip1 GOARCH=wasm go test -exec "$PWD/build/wasirun" -run '^$' -bench . ./core
//
// Functions imported from modules other than WASI (the Extism host functions of package wasm)
// trap when called. The program gets the host's file system at / and the host's environment,
// so a test binary finds its testdata folder. Compiled code is cached in a folder under os.TempDir, so a rerun
// of the same binary skips compilation. The exit code is the program's.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: wasirun PROGRAM.wasm [ARG...]")
		return 2
	}
	if err := runModule(context.Background(), args); err != nil {
		var exit *sys.ExitError
		if errors.As(err, &exit) {
			return int(exit.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "wasirun:", err)
		return 1
	}
	return 0
}

// runModule compiles and runs the module args[0] with args as its argument list.
func runModule(ctx context.Context, args []string) error {
	wasm, err := os.ReadFile(args[0])
	if err != nil {
		return fmt.Errorf("read module: %w", err)
	}
	cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(os.TempDir(), "tokengate-wasirun-cache"))
	if err != nil {
		return fmt.Errorf("compilation cache: %w", err)
	}
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	compiled, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return fmt.Errorf("compile %s: %w", args[0], err)
	}
	if err := stubImports(ctx, r, compiled); err != nil {
		return err
	}

	cfg := wazero.NewModuleConfig().
		WithArgs(args...).
		WithStdin(os.Stdin).
		WithStdout(os.Stdout).
		WithStderr(os.Stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithFSConfig(wazero.NewFSConfig().WithDirMount("/", "/"))
	for _, kv := range os.Environ() {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				cfg = cfg.WithEnv(kv[:i], kv[i+1:])
				break
			}
		}
	}
	_, err = r.InstantiateModule(ctx, compiled, cfg)
	return err
}

// stubImports defines every function the module imports from a module other than WASI as a
// host function that fails when called. A test binary of package wasm imports the Extism
// host functions, which its tests and benchmarks never call, and cannot start without them.
func stubImports(ctx context.Context, r wazero.Runtime, compiled wazero.CompiledModule) error {
	builders := map[string]wazero.HostModuleBuilder{}
	for _, fn := range compiled.ImportedFunctions() {
		module, name, _ := fn.Import()
		if module == wasi_snapshot_preview1.ModuleName {
			continue
		}
		b, ok := builders[module]
		if !ok {
			b = r.NewHostModuleBuilder(module)
			builders[module] = b
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(unavailable(module, name), fn.ParamTypes(), fn.ResultTypes()).
			Export(name)
	}
	for module, b := range builders {
		if _, err := b.Instantiate(ctx); err != nil {
			return fmt.Errorf("define stub host functions of %s: %w", module, err)
		}
	}
	return nil
}

// unavailable returns a host function that panics, which wazero turns into a trap.
func unavailable(module, name string) api.GoModuleFunction {
	return api.GoModuleFunc(func(context.Context, api.Module, []uint64) {
		panic(fmt.Sprintf("wasirun: host function %s.%s is not available", module, name))
	})
}
