package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tokengate/tokengate/internal/leanabi"
)

// WasmProbe instantiates build/tokengate.wasm directly on wazero, so the cold-start and memory
// figures can time and inspect each step (compile, instantiate, load) on its own. Decisions
// in the benchmarks go through package host, which users run; the probe only measures.
type WasmProbe struct {
	runtime  wazero.Runtime
	compiled wazero.CompiledModule
}

// NewWasmProbe compiles the module in a new runtime with the given compilation cache (nil
// for none) and memory limit in 64 KiB pages, and defines WASI and trapping stand-ins for the
// Extism imports, which the lean ABI never calls.
func NewWasmProbe(ctx context.Context, wasm []byte, cache wazero.CompilationCache, memoryPages uint32) (*WasmProbe, error) {
	cfg := wazero.NewRuntimeConfig().WithMemoryLimitPages(memoryPages)
	if cache != nil {
		cfg = cfg.WithCompilationCache(cache)
	}
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	compiled, err := r.CompileModule(ctx, wasm)
	if err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("compile module: %w", err)
	}
	p := &WasmProbe{runtime: r, compiled: compiled}
	if err := p.defineImports(ctx); err != nil {
		_ = r.Close(ctx)
		return nil, err
	}
	return p, nil
}

// errExtismCall is the trap of an Extism import called on the lean path.
var errExtismCall = errors.New("probe: the lean ABI called an Extism import")

// defineImports defines WASI and, for every other imported module, functions of the imported
// signatures that trap.
func (p *WasmProbe) defineImports(ctx context.Context) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.runtime); err != nil {
		return fmt.Errorf("define WASI: %w", err)
	}
	builders := map[string]wazero.HostModuleBuilder{}
	for _, fn := range p.compiled.ImportedFunctions() {
		module, name, _ := fn.Import()
		if module == wasi_snapshot_preview1.ModuleName {
			continue
		}
		b, ok := builders[module]
		if !ok {
			b = p.runtime.NewHostModuleBuilder(module)
			builders[module] = b
		}
		trap := api.GoModuleFunc(func(context.Context, api.Module, []uint64) { panic(errExtismCall) })
		b.NewFunctionBuilder().WithGoModuleFunction(trap, fn.ParamTypes(), fn.ResultTypes()).Export(name)
	}
	for module, b := range builders {
		if _, err := b.Instantiate(ctx); err != nil {
			return fmt.Errorf("define %s: %w", module, err)
		}
	}
	return nil
}

// Close releases the runtime and every instance.
func (p *WasmProbe) Close(ctx context.Context) error { return p.runtime.Close(ctx) }

// ProbeInstance is one instance of the module.
type ProbeInstance struct {
	module api.Module
	stack  []uint64
}

// Instantiate creates an instance and runs the module's _initialize.
func (p *WasmProbe) Instantiate(ctx context.Context) (*ProbeInstance, error) {
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize").
		WithSysWalltime().WithSysNanotime()
	mod, err := p.runtime.InstantiateModule(ctx, p.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	return &ProbeInstance{module: mod, stack: make([]uint64, 1)}, nil
}

// Close releases the instance.
func (i *ProbeInstance) Close(ctx context.Context) error { return i.module.Close(ctx) }

// MemoryPages returns the size of the instance's linear memory in 64 KiB pages.
func (i *ProbeInstance) MemoryPages() uint32 { return i.module.Memory().Size() / 65536 }

// LoadBundle copies the bundle into the guest and loads it with lean_load_bundle.
func (i *ProbeInstance) LoadBundle(ctx context.Context, bundle []byte) error {
	if uint64(len(bundle)) > 1<<32-1 {
		return fmt.Errorf("probe: bundle of %d bytes does not fit a 32-bit guest", len(bundle))
	}
	if err := i.call(ctx, leanabi.ExportBuffer, uint64(len(bundle))); err != nil {
		return err
	}
	if !i.module.Memory().Write(uint32(i.stack[0]), bundle) {
		return fmt.Errorf("probe: %s returned a buffer outside guest memory", leanabi.ExportBuffer)
	}
	if err := i.call(ctx, leanabi.ExportLoadBundle, uint64(len(bundle))); err != nil {
		return err
	}
	ptr, n := leanabi.Unpack(i.stack[0])
	if n == 0 {
		return nil
	}
	msg, _ := i.module.Memory().Read(ptr, n)
	return fmt.Errorf("probe: module rejected the bundle: %s", msg)
}

func (i *ProbeInstance) call(ctx context.Context, name string, arg uint64) error {
	fn := i.module.ExportedFunction(name)
	if fn == nil {
		return fmt.Errorf("probe: module does not export %s: rebuild it with make build", name)
	}
	i.stack[0] = arg
	if err := fn.CallWithStack(ctx, i.stack); err != nil {
		return fmt.Errorf("probe: %s: %w", name, err)
	}
	return nil
}
