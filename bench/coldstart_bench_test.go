package bench

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
)

// BenchmarkColdStart times the steps between reading build/tokengate.wasm and deciding the
// first request: compiling it without and with wazero's file compilation cache, and creating
// one instance that has loaded the 10-token bundle.
func BenchmarkColdStart(b *testing.B) {
	ctx := context.Background()
	b.Run("compile", func(b *testing.B) {
		wasm := readModule(b, leanModulePath)
		for b.Loop() {
			closeProbe(b, newProbe(b, wasm, nil, 0))
		}
	})
	b.Run("compile-cached", func(b *testing.B) {
		wasm := readModule(b, leanModulePath)
		cache, err := wazero.NewCompilationCacheWithDir(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer cache.Close(ctx)
		closeProbe(b, newProbe(b, wasm, cache, 0)) // fills the cache
		for b.Loop() {
			closeProbe(b, newProbe(b, wasm, cache, 0))
		}
	})
	b.Run("instantiate", func(b *testing.B) {
		wasm := readModule(b, leanModulePath)
		bundle, err := newSmallFixture(b).Bundle()
		if err != nil {
			b.Fatal(err)
		}
		p := newProbe(b, wasm, nil, 0)
		defer closeProbe(b, p)
		b.ReportAllocs()
		for b.Loop() {
			inst, err := p.Instantiate(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := inst.LoadBundle(ctx, bundle); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := inst.Close(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}

// newProbe compiles the module; memoryPages 0 means the host package's default limit.
func newProbe(b *testing.B, wasm []byte, cache wazero.CompilationCache, memoryPages uint32) *WasmProbe {
	b.Helper()
	if memoryPages == 0 {
		memoryPages = 4096
	}
	p, err := NewWasmProbe(context.Background(), wasm, cache, memoryPages)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func closeProbe(b *testing.B, p *WasmProbe) {
	b.Helper()
	if err := p.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
}
