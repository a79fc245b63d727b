//go:build !wasm

package filter_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"runtime"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/plugin/emulator"
	"github.com/tokengate/tokengate/plugin/filter"
)

const (
	soakRequests = 1_000_000
	// soakWarmup requests run before the first memory reading.
	soakWarmup = 100_000
	// soakBatch requests run on one Host. The emulator keeps every request it has seen, so
	// the Host is replaced after each batch while the VM stays the same.
	soakBatch = 10_000
	// soakMaxGrowth is the most the heap may grow between warm-up and the end, in bytes.
	soakMaxGrowth = 1 << 20
	// soakTimeLimit bounds each VM's run.
	soakTimeLimit = 12 * time.Minute
	soakHeaders   = 60
)

// soakRequest is one request of the soak's rotation and whether the filter forwards it.
type soakRequest struct {
	pairs   [][2]string
	forward bool
}

// soakRotation returns the rotation: allowed requests with and without forged identity
// headers, a GLOBAL token acting as a user, a denial and a CORS preflight, each with 60
// header fields.
func soakRotation() []soakRequest {
	fill := func(fields ...core.Header) []core.Header {
		for i := len(fields); i < soakHeaders; i++ {
			fields = append(fields, header(fmt.Sprintf("X-Filler-%02d", i), fmt.Sprintf("value-%02d-abcdefghijklmnopqrstuvwxyz", i)))
		}
		return fields
	}
	search := apiBase + "/search?q=soak"
	return []soakRequest{
		{emulator.Pairs("POST", search, fill(bearer("tok_user"))), true},
		{emulator.Pairs("POST", search, fill(bearer("tok_user"), header("X-Tokengate-User", forgedValue), header("X_Tokengate_User", forgedValue))), true},
		{emulator.Pairs("POST", search, fill(bearer("tok_global"), header("X-Scio-ActAs", "dana@example.com"))), true},
		{emulator.Pairs("POST", apiBase+"/chat", fill(bearer("tok_user"))), false},
		{emulator.Pairs("OPTIONS", search, fill(preflight()...)), true},
	}
}

// TestFilter_SoakMemoryStaysFlat runs the filter's Go code through the SDK's emulator and the
// built module through moduleHost. The emulator cannot run the module this long: it never
// deletes the module's HTTP contexts and gives it fake clocks, under which the module's
// garbage collector stalls (see package emulator).
func TestFilter_SoakMemoryStaysFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("soak of 1,000,000 requests per VM; run without -short")
	}
	defer silenceEmulatorLog()()
	t.Run("go", soakInProcess)
	t.Run("wasm", soakModule)
}

// soakInProcess measures the heap of this process, which holds the filter's Go code.
func soakInProcess(t *testing.T) {
	vm := filter.NewVMContext()
	pluginConfig := config(t, options{})
	var h *emulator.Host
	defer func() {
		if h != nil {
			h.Close()
		}
	}()
	do := func(i int, pairs [][2]string) (bool, error) {
		// The emulator keeps every request, so the Host is replaced after each batch while
		// the VM stays the same.
		if i%soakBatch == 0 {
			if h != nil {
				h.Close()
			}
			var err error
			if h, err = emulator.Start(vm, pluginConfig); err != nil {
				return false, err
			}
		}
		res, err := h.Do(pairs, fx.now)
		return res.Continued(), err
	}
	measure := func() uint64 {
		if h != nil {
			h.Close()
			h = nil
		}
		return heapAfterGC()
	}
	soak(t, do, measure, "heap")
}

// soakModule measures the built module's linear memory.
func soakModule(t *testing.T) {
	ctx := context.Background()
	host, err := newModuleHost(ctx, moduleBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer host.close(ctx)
	if started, err := host.startPlugin(ctx, config(t, options{})); err != nil || !started {
		t.Fatalf("the module did not start with the configuration (started %t, error %v); logs: %v", started, err, host.Logs())
	}
	now := filter.EncodeRequestTime(fx.now)
	do := func(_ int, pairs [][2]string) (bool, error) { return host.do(ctx, pairs, now) }
	measure := func() uint64 { return uint64(host.memorySize()) }
	soak(t, do, measure, "module memory")

	decisions := uint64(0)
	for _, r := range core.AllReasons() {
		decisions += host.Counter(filter.DecisionMetric(r))
	}
	if decisions != soakRequests {
		t.Errorf("the module counted %d decisions, want %d", decisions, soakRequests)
	}
	if errs := host.logs[4] + host.logs[5]; errs != 0 {
		t.Errorf("the module logged %d errors", errs)
	}
}

// soak sends soakRequests requests of the rotation through do, checking each outcome, and
// fails when measure grows by soakMaxGrowth or more between warm-up and the end.
func soak(t *testing.T, do func(i int, pairs [][2]string) (bool, error), measure func() uint64, what string) {
	rotation := soakRotation()
	deadline := time.Now().Add(soakTimeLimit)
	start := time.Now()
	var baseline uint64
	for i := 0; i < soakRequests; i++ {
		if i == soakWarmup {
			baseline = measure()
		}
		if i%soakBatch == 0 && time.Now().After(deadline) {
			t.Fatalf("the soak exceeded %s after %d requests", soakTimeLimit, i)
		}
		r := rotation[i%len(rotation)]
		forwarded, err := do(i, r.pairs)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if forwarded != r.forward {
			t.Fatalf("request %d: forwarded = %t, want %t", i, forwarded, r.forward)
		}
	}
	final := measure()
	growth := int64(final) - int64(baseline)
	t.Logf("%d requests of %d fields in %s; %s after warm-up %d bytes, at the end %d bytes, growth %d bytes",
		soakRequests, soakHeaders+2, time.Since(start).Round(time.Millisecond), what, baseline, final, growth)
	if growth >= soakMaxGrowth {
		t.Errorf("%s grew by %d bytes after warm-up, want less than %d", what, growth, soakMaxGrowth)
	}
}

// silenceEmulatorLog stops proxytest from printing every filter log line through the
// standard logger, and returns the function that restores the logger's output.
func silenceEmulatorLog() (restore func()) {
	prev := log.Writer()
	log.SetOutput(io.Discard)
	return func() { log.SetOutput(prev) }
}

// heapAfterGC returns the live heap of this process after a collection. For the module it
// includes the module's linear memory, which wazero keeps in a Go byte slice.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func BenchmarkFilter_AllowedRequest(b *testing.B) {
	benchmarkRequest(b, soakRotation()[0])
}

func BenchmarkFilter_DeniedRequest(b *testing.B) {
	benchmarkRequest(b, soakRotation()[3])
}

// benchmarkRequest measures one request of 62 header fields through the emulator, which
// includes the emulator's own cost of copying the header list.
func benchmarkRequest(b *testing.B, r soakRequest) {
	defer silenceEmulatorLog()()
	vms := []struct {
		name string
		vm   types.VMContext
	}{{"go", nil}, {"wasm", moduleVM}}
	for _, v := range vms {
		b.Run(v.name, func(b *testing.B) {
			vm := v.vm
			if vm == nil {
				vm = filter.NewVMContext()
			}
			pluginConfig := config(b, options{})
			h, err := emulator.Start(vm, pluginConfig)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { h.Close() }()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i > 0 && i%soakBatch == 0 {
					b.StopTimer()
					h.Close()
					if h, err = emulator.Start(vm, pluginConfig); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				res, err := h.Do(r.pairs, fx.now)
				if err != nil {
					b.Fatal(err)
				}
				if res.Continued() != r.forward {
					b.Fatalf("forwarded = %t, want %t", res.Continued(), r.forward)
				}
			}
		})
	}
}
