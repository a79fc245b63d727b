package tests

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/host/conformance"
	"github.com/tokengate/tokengate/host/engine"
	"github.com/tokengate/tokengate/host/policyfile"
	"github.com/tokengate/tokengate/plugin/emulator"
)

var (
	proxyWasmModuleOnce sync.Once
	proxyWasmModulePath string
	proxyWasmModuleErr  error
)

// proxyWasmModule returns the path of the built filter module, building it when it is missing
// or older than its sources.
func proxyWasmModule(t *testing.T) string {
	t.Helper()
	proxyWasmModuleOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		proxyWasmModulePath, proxyWasmModuleErr = emulator.EnsureModule(ctx, "..")
	})
	if proxyWasmModuleErr != nil {
		t.Fatal(proxyWasmModuleErr)
	}
	return proxyWasmModulePath
}

// openProxyWasmEngine opens the proxywasm engine on the conformance file's bundle.
func openProxyWasmEngine(t *testing.T) (engine.Engine, *conformance.File) {
	t.Helper()
	module := proxyWasmModule(t)
	f, err := conformance.Load("testdata/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	policy, err := policyfile.Load("../scopes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := f.Bundle(policy)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e, err := engine.Open(ctx, "proxywasm", bundle, engine.Options{ModuleDir: filepath.Dir(module)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(ctx); err != nil {
			t.Errorf("close the engine: %v", err)
		}
	})
	return e, f
}

// TestProxyWasm_Engine runs every check on one engine, because each engine compiles the
// module again (several seconds).
func TestProxyWasm_Engine(t *testing.T) {
	e, f := openProxyWasmEngine(t)
	t.Run("conformance", func(t *testing.T) { checkProxyWasmConformance(t, e, f) })
	t.Run("matches native", func(t *testing.T) { checkProxyWasmMatchesNative(t, e, f) })
	t.Run("replaces its emulator host and module instance", func(t *testing.T) { checkProxyWasmReplacesHost(t, e, f) })
	t.Run("one engine per process", func(t *testing.T) {
		module := proxyWasmModule(t)
		_, err := engine.Open(context.Background(), "proxywasm", nil, engine.Options{ModuleDir: filepath.Dir(module)})
		if !errors.Is(err, emulator.ErrHostInUse) {
			t.Fatalf("a second engine while the first is open: error %v, want ErrHostInUse", err)
		}
	})
}

func checkProxyWasmConformance(t *testing.T, e engine.Engine, f *conformance.File) {
	results := conformance.Run(context.Background(), e, f)
	if len(results) != len(f.Cases) || len(results) == 0 {
		t.Fatalf("%d results for %d cases", len(results), len(f.Cases))
	}
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s: engine error: %v", r.Case.Name, r.Err)
			continue
		}
		for _, m := range r.Mismatches {
			t.Errorf("%s: %s = %v, expected %v", r.Case.Name, m.Field, m.Actual, m.Expected)
		}
	}
}

// checkProxyWasmMatchesNative compares every field of every decision, not only the fields a
// case lists.
func checkProxyWasmMatchesNative(t *testing.T, e engine.Engine, f *conformance.File) {
	policy, err := policyfile.Load("../scopes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := f.Bundle(policy)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	native, err := engine.Open(ctx, "native", bundle, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Cases {
		want, err := native.Decide(ctx, c.Request(), c.Instant(f))
		if err != nil {
			t.Fatalf("%s: native: %v", c.Name, err)
		}
		got, err := e.Decide(ctx, c.Request(), c.Instant(f))
		if err != nil {
			t.Errorf("%s: proxywasm: %v", c.Name, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: proxywasm decided %+v, native %+v", c.Name, got, want)
		}
	}
}

// checkProxyWasmReplacesHost runs more requests than one emulator Host serves (4096), and
// without -short more than one module instance serves (20,000), so the engine must replace
// them on the way and keep deciding the same.
func checkProxyWasmReplacesHost(t *testing.T, e engine.Engine, f *conformance.File) {
	ctx := context.Background()
	requests := 5000
	if !testing.Short() {
		requests = 20500
	}
	for i := 0; i < requests; i++ {
		c := f.Cases[i%len(f.Cases)]
		d, err := e.Decide(ctx, c.Request(), c.Instant(f))
		if err != nil {
			t.Fatalf("request %d (%s): %v", i, c.Name, err)
		}
		if m := conformance.Compare(c, d); len(m) != 0 {
			t.Fatalf("request %d (%s): mismatches %+v", i, c.Name, m)
		}
	}
}
