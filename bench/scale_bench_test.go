package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
)

// scaleFixture is a fixture of a given size with the heap its store and validator use.
type scaleFixture struct {
	*Fixture
	heapBytes uint64
	bundle    []byte
}

var scaleFixtures sync.Map // int -> *scaleFixture

// loadSize is the store size of BenchmarkLoad, whose fixture BenchmarkScale keeps.
const loadSize = 1_000_000

// newScaleFixture builds, once per size, a fixture of n tokens and its bundle.
func newScaleFixture(tb testing.TB, n int) *scaleFixture {
	tb.Helper()
	if v, ok := scaleFixtures.Load(n); ok {
		return v.(*scaleFixture)
	}
	before := HeapInUse()
	f, err := NewFixture(policyPath, n)
	if err != nil {
		tb.Fatal(err)
	}
	after := HeapInUse()
	bundle, err := f.Bundle()
	if err != nil {
		tb.Fatal(err)
	}
	sf := &scaleFixture{Fixture: f, heapBytes: after - min(before, after), bundle: bundle}
	scaleFixtures.Store(n, sf)
	return sf
}

// BenchmarkScale measures one decision against stores of 10, 10,000 and 1,000,000 tokens,
// cycling through up to 4,096 distinct tokens (see RotationRequests). It runs both engines on
// one size before it builds the next, and drops the smaller fixtures, so a large live heap
// from one size does not slow the garbage collector during another.
func BenchmarkScale(b *testing.B) {
	for _, n := range ScaleSizes {
		b.Run(fmt.Sprintf("native/tokens=%d", n), func(b *testing.B) {
			f := newScaleFixture(b, n)
			benchmarkRotation(b, RotationRequests(n), func(req core.Request) bool {
				return f.Validator.Decide(req, Now).Allow
			})
			b.ReportMetric(float64(f.heapBytes)/1e6, UnitHeapMB)
			b.ReportMetric(float64(len(f.bundle))/1e6, UnitBundleMB)
		})
		b.Run(fmt.Sprintf("wasm-lean/tokens=%d", n), func(b *testing.B) {
			f := newScaleFixture(b, n)
			pages, load := probeBundleLoad(b, f.bundle)
			// The credential cache is off, so that every decision probes the store's index,
			// which is what the store size changes.
			h := newLeanHost(b, f.bundle, maxMemoryPages, -1)
			ctx := context.Background()
			benchmarkRotation(b, RotationRequests(n), func(req core.Request) bool {
				d, err := h.Decide(ctx, req, Now)
				if err != nil {
					b.Fatal(err)
				}
				return d.Allow
			})
			b.ReportMetric(float64(pages), UnitMemoryPages)
			b.ReportMetric(load.Seconds(), UnitLoadSeconds)
			b.ReportMetric(float64(len(f.bundle))/1e6, UnitBundleMB)
		})
		if n != loadSize {
			scaleFixtures.Delete(n)
		}
	}
}

// probeBundleLoad loads the bundle into a fresh instance and returns the instance's memory
// size in pages afterwards and the time lean_load_bundle took, copy into the guest included.
func probeBundleLoad(b *testing.B, bundle []byte) (uint32, time.Duration) {
	b.Helper()
	ctx := context.Background()
	p := newProbe(b, readModule(b, leanModulePath), nil, maxMemoryPages)
	defer closeProbe(b, p)
	inst, err := p.Instantiate(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close(ctx)
	start := time.Now()
	if err := inst.LoadBundle(ctx, bundle); err != nil {
		b.Fatal(err)
	}
	return inst.MemoryPages(), time.Since(start)
}

// benchmarkRotation checks that decide allows every request, then runs it over them in turn.
func benchmarkRotation(b *testing.B, reqs []core.Request, decide func(core.Request) bool) {
	b.Helper()
	for i, req := range reqs {
		if !decide(req) {
			b.Fatalf("request %d of the rotation was denied", i)
		}
	}
	// A collection now, after the set-up allocated, keeps a concurrent one out of the loop.
	runtime.GC()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		decide(reqs[i])
		i++
		if i == len(reqs) {
			i = 0
		}
	}
}

// BenchmarkLoad measures loading the 1,000,000-token store from its store file and from its
// bundle, the two formats that the engines read at start and on every reload.
func BenchmarkLoad(b *testing.B) {
	const n = loadSize
	f := newScaleFixture(b, n)
	b.Run("parse-store/tokens=1000000", func(b *testing.B) {
		data, err := f.Store.MarshalJSON()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(data)))
		// A collection now keeps the garbage of the set-up out of the one timed load.
		runtime.GC()
		b.ReportAllocs()
		cpu := ProcessCPUTime()
		for b.Loop() {
			s, err := core.ParseStore(data)
			if err != nil {
				b.Fatal(err)
			}
			if s.Len() != n {
				b.Fatalf("parsed %d tokens, expected %d", s.Len(), n)
			}
		}
		b.ReportMetric((ProcessCPUTime()-cpu).Seconds()/float64(b.N), UnitCPUSeconds)
	})
	b.Run("decode-bundle/tokens=1000000", func(b *testing.B) {
		b.SetBytes(int64(len(f.bundle)))
		// A collection now keeps the garbage of the set-up out of the one timed load.
		runtime.GC()
		b.ReportAllocs()
		cpu := ProcessCPUTime()
		for b.Loop() {
			v, info, err := core.DecodeBundle(f.bundle)
			if err != nil {
				b.Fatal(err)
			}
			if info.Tokens != n || v == nil {
				b.Fatalf("decoded %d tokens, expected %d", info.Tokens, n)
			}
		}
		b.ReportMetric((ProcessCPUTime()-cpu).Seconds()/float64(b.N), UnitCPUSeconds)
	})
}
