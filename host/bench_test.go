package host_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"
	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host"
)

// benchRequest returns an allowed GLOBAL-token request with the headers of a typical client.
func benchRequest(b *testing.B) (core.Request, time.Time, []byte) {
	f, bundle := loadCases(b)
	req := core.Request{
		Method: "POST",
		Path:   "/rest/api/v1/search?locale=en",
		Headers: []core.Header{
			{Name: "Host", Value: "api.example.com"},
			{Name: "User-Agent", Value: "client/1.0"},
			{Name: "Content-Type", Value: "application/json"},
			{Name: "Authorization", Value: "Bearer " + f.Secrets["tok_global"]},
			{Name: "X-Scio-ActAs", Value: "Ann@Example.com"},
		},
	}
	return req, f.Now, bundle
}

// BenchmarkDecide compares one decision natively, on the lean ABI of the Host, through the
// decide export on the Host, and through the decide export under the Extism Go SDK.
func BenchmarkDecide(b *testing.B) {
	req, now, bundle := benchRequest(b)
	want := core.ReasonOK

	b.Run("native", func(b *testing.B) {
		v, _, err := core.DecodeBundle(bundle)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if d := v.Decide(req, now); d.Reason != want {
				b.Fatalf("reason %s", d.Reason)
			}
		}
	})

	b.Run("wasm-lean", func(b *testing.B) {
		h := newHost(b, hostOptions(bundle))
		ctx := context.Background()
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			d, err := h.Decide(ctx, req, now)
			if err != nil || d.Reason != want {
				b.Fatalf("reason %s, error %v", d.Reason, err)
			}
		}
	})

	input, err := json.Marshal(struct {
		core.Request
		Now time.Time `json:"now"`
	}{req, now})
	if err != nil {
		b.Fatal(err)
	}

	// wasm-json calls the same decide export as wasm-extism, but through this package's
	// Extism host functions, which separates the SDK's cost from the module's JSON work.
	b.Run("wasm-json", func(b *testing.B) {
		h := newHost(b, hostOptions(bundle))
		ctx := context.Background()
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			out, err := h.DecideJSON(ctx, input)
			if err != nil {
				b.Fatal(err)
			}
			var d core.Decision
			if err := json.Unmarshal(out, &d); err != nil || d.Reason != want {
				b.Fatalf("decision %s, error %v", out, err)
			}
		}
	})

	b.Run("wasm-extism", func(b *testing.B) {
		plugin := newExtismPlugin(b, bundle)
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			rc, out, err := plugin.Call("decide", input)
			if err != nil || rc != 0 {
				b.Fatalf("decide: code %d, error %v", rc, err)
			}
			var d core.Decision
			if err := json.Unmarshal(out, &d); err != nil || d.Reason != want {
				b.Fatalf("decision %s, error %v", out, err)
			}
		}
	})
}

// newExtismPlugin loads the built module with the Extism Go SDK and the bundle in the plugin
// config, as an Extism host would.
func newExtismPlugin(tb testing.TB, bundle []byte) *extism.Plugin {
	tb.Helper()
	ctx := context.Background()
	wasm, err := os.ReadFile(builtModule())
	if err != nil {
		tb.Fatal(err)
	}
	manifest := extism.Manifest{
		Wasm:   []extism.Wasm{extism.WasmData{Data: wasm}},
		Config: map[string]string{"bundle": string(bundle)},
	}
	cache, err := wazero.NewCompilationCacheWithDir(host.CacheDirForTests())
	if err != nil {
		tb.Fatal(err)
	}
	plugin, err := extism.NewPlugin(ctx, manifest, extism.PluginConfig{
		EnableWasi:    true,
		ModuleConfig:  wazero.NewModuleConfig().WithSysWalltime(),
		RuntimeConfig: wazero.NewRuntimeConfig().WithCompilationCache(cache),
	}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { plugin.Close(ctx) })
	return plugin
}

// reportCPU starts measuring the process CPU time and returns a function that reports it per
// operation as cpu-ns/op. On a shared machine ns/op includes time spent waiting for a core,
// and cpu-ns/op does not. It also counts the Go runtime's background work, such as GC.
func reportCPU(b *testing.B) func() {
	start, ok := processCPUTime()
	return func() {
		end, _ := processCPUTime()
		if ok && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
