package host

import (
	"context"
	"testing"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/internal/leanabi"
)

// BenchmarkHost_DecideParts measures the host's side of a lean decision step by step. The
// steps are the pool, writing the request into guest memory, a call of an export that does no
// work, a lean_decide that the guest rejects at its first check, and decoding the decision.
func BenchmarkHost_DecideParts(b *testing.B) {
	bundle, req := fixtureBundle(b)
	h, err := New(context.Background(), Options{ModulePath: modulePath, Logger: quietLogger, CacheDir: testCacheDir, Bundle: bundle, PoolSize: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(context.Background()) })
	ctx := context.Background()
	inst, state, err := h.take(ctx)
	if err != nil {
		b.Fatal(err)
	}
	now := fixtureNow.UnixNano()
	n := leanabi.RequestSize(req)
	version := inst.module.ExportedFunction(leanabi.ExportVersion)
	bad := core.Request{Method: "GET", Path: "x"}
	encoded := leanabi.AppendDecision(nil, core.Decision{Reason: core.ReasonOK, TokenID: "tok_fixture", Principal: "ann@example.com"})

	b.Run("write-request", func(b *testing.B) {
		for b.Loop() {
			if err := inst.write(ctx, n, func(dst []byte) { leanabi.PutRequest(dst, req, now) }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("call-version", func(b *testing.B) {
		for b.Loop() {
			if err := version.CallWithStack(ctx, inst.stack); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decide-malformed-path", func(b *testing.B) {
		for b.Loop() {
			if _, err := inst.decideLean(ctx, bad, now, state.intern); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decide-allow", func(b *testing.B) {
		for b.Loop() {
			if _, err := inst.decideLean(ctx, req, now, state.intern); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-decision", func(b *testing.B) {
		for b.Loop() {
			if _, err := leanabi.DecodeDecision(encoded, state.intern); err != nil {
				b.Fatal(err)
			}
		}
	})
	h.put(inst, nil)
	b.Run("pool-take-put", func(b *testing.B) {
		for b.Loop() {
			inst, _, err := h.take(ctx)
			if err != nil {
				b.Fatal(err)
			}
			h.put(inst, nil)
		}
	})
}
