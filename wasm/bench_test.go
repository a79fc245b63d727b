package main

import (
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/internal/leanabi"
)

// BenchmarkGuest_DecideLean measures the guest's side of one lean decision and its parts.
// Run it as WebAssembly to see the cost in the module:
//
//	GOOS=wasip1 GOARCH=wasm go test -exec "$PWD/build/wasirun" -run '^$' -bench . ./wasm
func BenchmarkGuest_DecideLean(b *testing.B) {
	g := newGuest()
	bundle := testBundle(b)
	copy(g.buffer(uint32(len(bundle))), bundle)
	if msg := g.loadLean(uint32(len(bundle))); len(msg) != 0 {
		b.Fatalf("load: %s", msg)
	}
	req := core.Request{
		Method: "POST",
		Path:   "/rest/api/v1/search?locale=en",
		Headers: []core.Header{
			{Name: "Host", Value: "api.example.com"},
			{Name: "User-Agent", Value: "client/1.0"},
			{Name: "Content-Type", Value: "application/json"},
			{Name: "Authorization", Value: "Bearer " + testSecret},
		},
	}
	n := leanabi.RequestSize(req)
	leanabi.PutRequest(g.buffer(uint32(n)), req, testNow.UnixNano())
	if d, err := leanabi.DecodeDecision(g.decideLean(uint32(n)), nil); err != nil || d.Reason != core.ReasonOK {
		b.Fatalf("decision %+v, error %v", d, err)
	}
	decided := g.validator.Decide(req, testNow)

	b.Run("decide-lean", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g.decideLean(uint32(n))
		}
	})
	b.Run("decode-request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := leanabi.DecodeRequest(g.in[:n], &g.req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("validator-decide", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g.validator.Decide(req, testNow)
		}
	})
	b.Run("validator-decide-cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g.validator.DecideCached(req, testNow, g.cache)
		}
	})
	for _, c := range []struct {
		name string
		req  core.Request
	}{
		{"validator-decide-malformed-path", core.Request{Method: "GET", Path: "x"}},
		{"validator-decide-missing-token", core.Request{Method: "POST", Path: req.Path, Headers: req.Headers[:3]}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g.validator.DecideCached(c.req, testNow, g.cache)
			}
		})
	}
	b.Run("append-decision", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g.out = leanabi.AppendDecision(g.out[:0], decided)
		}
	})
	b.Run("time-unix", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkTime = time.Unix(0, testNow.UnixNano())
		}
	})
}

// sinkTime keeps benchmark results alive so the compiler cannot drop the work.
var sinkTime time.Time
