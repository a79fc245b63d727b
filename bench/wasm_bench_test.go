package bench

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/tetratelabs/wazero"
	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host"
	"github.com/tokengate/tokengate/plugin/emulator"
	"github.com/tokengate/tokengate/plugin/filter"
)

// The modules that make build writes, as seen from the package folder.
const (
	leanModulePath  = "../build/tokengate.wasm"
	proxyModulePath = "../build/tokengate-proxywasm.wasm"
)

// maxMemoryPages is the largest wasm32 memory, 4 GiB, which the 1,000,000-token bundle needs.
const maxMemoryPages = 65536

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// readModule returns a built module, or skips the benchmark when make build has not run.
func readModule(b *testing.B, path string) []byte {
	b.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		b.Skipf("%s is not built: run make build (%v)", path, err)
	}
	return wasm
}

// newLeanHost opens the host package on the lean module with one instance, whose credential
// cache holds cacheEntries credentials (see host.Options.CredentialCacheEntries).
func newLeanHost(b *testing.B, bundle []byte, memoryPages uint32, cacheEntries int) *host.Host {
	b.Helper()
	readModule(b, leanModulePath)
	ctx := context.Background()
	h, err := host.New(ctx, host.Options{
		ModulePath: leanModulePath, Bundle: bundle, PoolSize: 1,
		MemoryLimitPages: memoryPages, Logger: quietLogger, CredentialCacheEntries: cacheEntries,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Close(ctx) })
	return h
}

// benchmarkLean decides the allowed request through the host package, with the guest's
// credential cache bounded to cacheEntries credentials: the default for 0, off for -1.
func benchmarkLean(b *testing.B, f *Fixture, cacheEntries int) {
	bundle, err := f.Bundle()
	if err != nil {
		b.Fatal(err)
	}
	h := newLeanHost(b, bundle, 0, cacheEntries)
	ctx := context.Background()
	if d, err := h.Decide(ctx, f.Request, Now); err != nil || !d.Allow {
		b.Fatalf("lean host denied the allowed request: %s (error %v)", d.Reason, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Decide(ctx, f.Request, Now); err != nil {
			b.Fatal(err)
		}
	}
}

// benchmarkExtism calls the decide export through the Extism Go SDK with the bundle in the
// manifest config. Each call encodes nothing (the input is built once, as a caller with a
// fixed request would) but decodes the decision JSON, which every caller must.
func benchmarkExtism(b *testing.B, f *Fixture) {
	wasm := readModule(b, leanModulePath)
	bundle, err := f.Bundle()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	plugin, err := extism.NewPlugin(ctx, extism.Manifest{
		Wasm:   []extism.Wasm{extism.WasmData{Data: wasm}},
		Config: map[string]string{"bundle": string(bundle)},
	}, extism.PluginConfig{EnableWasi: true, ModuleConfig: wazero.NewModuleConfig().WithSysWalltime()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer plugin.Close(ctx)

	input, err := json.Marshal(struct {
		core.Request
		Now time.Time `json:"now"`
	}{f.Request, Now})
	if err != nil {
		b.Fatal(err)
	}

	decide := func() core.Decision {
		rc, out, err := plugin.Call("decide", input)
		if err != nil || rc != 0 {
			b.Fatalf("decide: exit code %d, error %v", rc, err)
		}
		var d core.Decision
		if err := json.Unmarshal(out, &d); err != nil {
			b.Fatalf("decode decision %q: %v", out, err)
		}
		return d
	}
	if d := decide(); !d.Allow {
		b.Fatalf("extism denied the allowed request: %s", d.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		decide()
	}
}

// benchmarkProxyWasm runs the compiled filter in the SDK's proxytest emulator and calls its
// request-headers callback, which Envoy calls once per request.
func benchmarkProxyWasm(b *testing.B, f *Fixture) {
	wasm := readModule(b, proxyModulePath)
	bundle, err := f.Bundle()
	if err != nil {
		b.Fatal(err)
	}
	config, err := json.Marshal(filter.Config{Bundle: bundle})
	if err != nil {
		b.Fatal(err)
	}
	vm, err := emulator.NewModuleVM(wasm)
	if err != nil {
		b.Fatal(err)
	}
	defer vm.Close()

	emu, release := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration(config))
	defer release()
	if emu.StartVM() != types.OnVMStartStatusOK || emu.StartPlugin() != types.OnPluginStartStatusOK {
		b.Fatal("the filter failed to start in proxytest")
	}
	if err := emu.SetProperty(filter.RequestTimeProperty, filter.EncodeRequestTime(Now)); err != nil {
		b.Fatal(err)
	}

	pairs := emulator.Pairs(f.Request.Method, f.Request.Path, f.Request.Headers)
	decide := func() types.Action {
		id := emu.InitializeHttpContext()
		action := emu.CallOnRequestHeaders(id, pairs, false)
		emu.CompleteHttpContext(id)
		return action
	}
	if a := decide(); a != types.ActionContinue {
		b.Fatalf("the filter did not forward the allowed request: action %v", a)
	}
	b.ReportAllocs()
	for b.Loop() {
		decide()
	}
}
