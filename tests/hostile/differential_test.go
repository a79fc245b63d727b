package hostile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/conformance"
	"github.com/tokengate/tokengate/host/engine"
	"github.com/tokengate/tokengate/host/policyfile"
	"github.com/tokengate/tokengate/plugin/emulator"
	"github.com/tokengate/tokengate/plugin/filter"
)

// A fuzz input carries its header list as one string: fields separated by "\n", each with its
// name before the first ':' and its value, untrimmed, after it.
func decodeHeaderLines(s string) []core.Header {
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	out := make([]core.Header, len(lines))
	for i, line := range lines {
		name, value, _ := strings.Cut(line, ":")
		out[i] = core.Header{Name: name, Value: value}
	}
	return out
}

func encodeHeaderLines(headers []core.Header) string {
	lines := make([]string, len(headers))
	for i, h := range headers {
		lines[i] = h.Name + ":" + h.Value
	}
	return strings.Join(lines, "\n")
}

// maxFuzzOffset bounds how far from the conformance file's instant a fuzz input may decide:
// two years either way, which crosses every expiry and revocation of the file's tokens and
// stays after 2020, the earliest instant the proxy-wasm filter accepts.
const maxFuzzOffset = 2 * 365 * 24 * time.Hour

// filterDecider decides with the built proxy-wasm filter module in the SDK's emulator, like
// the proxywasm engine, but prepares each new module instance in the background. The emulator
// makes a module instance grow without bound (see package emulator), so both replace it every
// few thousand requests. The compilation takes seconds. Done inline, as the engine does it, it
// exceeds the 10 s that a fuzz worker allows one input, and the worker is killed.
type filterDecider struct {
	module, config []byte
	vm             proxytest.WasmVMContext
	host           *emulator.Host
	// hostRequests and vmRequests count the requests of the current Host and instance.
	hostRequests, vmRequests int
	// next receives the instance prepared in the background; nil while none is prepared.
	next chan vmResult
}

type vmResult struct {
	vm  proxytest.WasmVMContext
	err error
}

// Request counts after which the decider replaces its Host and starts preparing the next
// module instance. The instance grows by about 8 KB per request once its collector stalls.
const (
	filterHostRequests = 4096
	filterVMRequests   = 10000
)

func newFilterDecider(tb testing.TB, bundle []byte) *filterDecider {
	tb.Helper()
	module, err := os.ReadFile(filepath.Join(moduleDir(tb), emulator.ModuleName))
	if err != nil {
		tb.Fatal(err)
	}
	config, err := filter.EncodeConfig(bundle, false, false)
	if err != nil {
		tb.Fatal(err)
	}
	vm, err := emulator.NewModuleVM(module)
	if err != nil {
		tb.Fatal(err)
	}
	d := &filterDecider{module: module, config: config, vm: vm}
	if err := d.startHost(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.close)
	return d
}

func (d *filterDecider) startHost() error {
	h, err := emulator.Start(d.vm, d.config)
	if err != nil {
		return err
	}
	if !h.Started() {
		h.Close()
		return errors.New("the filter rejected the configuration")
	}
	d.host, d.hostRequests = h, 0
	return nil
}

// decide runs one request through the filter and reads its decision back.
func (d *filterDecider) decide(req core.Request, now time.Time) (core.Decision, error) {
	if err := d.rotate(); err != nil {
		return core.NotConfigured(), err
	}
	d.hostRequests++
	d.vmRequests++
	res, err := d.host.Do(emulator.Pairs(req.Method, req.Path, req.Headers), now)
	if err != nil {
		return core.NotConfigured(), err
	}
	return res.Decision()
}

// rotate replaces a Host that has served filterHostRequests, swapping in a prepared module
// instance at the same moment when one is ready.
func (d *filterDecider) rotate() error {
	if d.vmRequests >= filterVMRequests && d.next == nil {
		d.next = make(chan vmResult, 1)
		go func(next chan<- vmResult) {
			vm, err := emulator.NewModuleVM(d.module)
			next <- vmResult{vm, err}
		}(d.next)
	}
	if d.hostRequests < filterHostRequests {
		return nil
	}
	d.host.Close()
	d.host = nil
	select {
	case r := <-d.next:
		d.next = nil
		if r.err != nil {
			return r.err
		}
		_ = d.vm.Close()
		d.vm, d.vmRequests = r.vm, 0
	default:
	}
	return d.startHost()
}

func (d *filterDecider) close() {
	if d.host != nil {
		d.host.Close()
	}
	if d.next != nil {
		if r := <-d.next; r.vm != nil {
			_ = r.vm.Close()
		}
	}
	_ = d.vm.Close()
}

// FuzzEngines_AgreeWithNative decides each input with the Extism module through its lean ABI
// and with the proxy-wasm filter module, and fails when either differs from the native core
// or fails to decide. The seeds are the conformance cases and the hostile inputs in
// testdata/fuzz/FuzzEngines_AgreeWithNative.
func FuzzEngines_AgreeWithNative(f *testing.F) {
	file, err := conformance.Load(casesPath)
	if err != nil {
		f.Fatal(err)
	}
	policy, err := policyfile.Load(policyPath)
	if err != nil {
		f.Fatal(err)
	}
	bundle, err := file.Bundle(policy)
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	native, err := engine.Open(ctx, "native", bundle, engine.Options{})
	if err != nil {
		f.Fatal(err)
	}
	extism, err := engine.Open(ctx, "extism", bundle, engine.Options{ModuleDir: moduleDir(f)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = extism.Close(ctx) })
	proxyWasm := newFilterDecider(f, bundle)
	for _, c := range file.Cases {
		f.Add(c.Method, c.Path, encodeHeaderLines(c.Headers), int64(c.Instant(file).Sub(file.Now)))
	}

	f.Fuzz(func(t *testing.T, method, target, headerLines string, offset int64) {
		headers := decodeHeaderLines(headerLines)
		for _, h := range headers {
			// A proxy never hands the filter a field named like a pseudo-header, so such
			// input has no meaning for it.
			if strings.HasPrefix(h.Name, ":") {
				return
			}
		}
		now := file.Now.Add(time.Duration(offset) % maxFuzzOffset)
		req := core.Request{Method: method, Path: target, Headers: headers}
		want, err := native.Decide(ctx, req, now)
		if err != nil {
			t.Fatalf("native: %v", err)
		}
		got, err := extism.Decide(ctx, req, now)
		if err != nil {
			t.Fatalf("extism failed to decide %+v at %s: %v; native decided %+v", req, now, err, want)
		}
		if got != want {
			t.Fatalf("extism decided %+v, native %+v, for %+v at %s", got, want, req, now)
		}
		got, err = proxyWasm.decide(req, now)
		if err != nil {
			t.Fatalf("the proxy-wasm filter failed to decide %+v at %s: %v; native decided %+v", req, now, err, want)
		}
		if got != want {
			t.Fatalf("the proxy-wasm filter decided %+v, native %+v, for %+v at %s", got, want, req, now)
		}
	})
}
