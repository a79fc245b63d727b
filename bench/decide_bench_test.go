package bench

import (
	"context"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
)

// BenchmarkDecide measures one decision of the allowed request with each tokengate engine,
// against the 10-token store.
func BenchmarkDecide(b *testing.B) {
	f := newSmallFixture(b)
	b.Run("native", func(b *testing.B) {
		if d := f.Validator.Decide(f.Request, Now); !d.Allow {
			b.Fatalf("native engine denied the allowed request: %s", d.Reason)
		}
		b.ReportAllocs()
		for b.Loop() {
			f.Validator.Decide(f.Request, Now)
		}
	})
	b.Run("native-cached", func(b *testing.B) {
		cache := core.NewCredentialCache(0, 0)
		if d := f.Validator.DecideCached(f.Request, Now, cache); !d.Allow {
			b.Fatalf("native engine denied the allowed request: %s", d.Reason)
		}
		b.ReportAllocs()
		for b.Loop() {
			f.Validator.DecideCached(f.Request, Now, cache)
		}
	})
	b.Run("wasm-lean", func(b *testing.B) { benchmarkLean(b, f, 0) })
	b.Run("wasm-lean-nocache", func(b *testing.B) { benchmarkLean(b, f, -1) })
	b.Run("wasm-extism", func(b *testing.B) { benchmarkExtism(b, f) })
	b.Run("proxywasm", func(b *testing.B) { benchmarkProxyWasm(b, f) })
}

// BenchmarkPeer measures what users would deploy in place of tokengate, on the same request.
func BenchmarkPeer(b *testing.B) {
	ctx := context.Background()
	f := newSmallFixture(b)
	b.Run("opa", func(b *testing.B) {
		opa, err := NewOPA(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		if d, err := opa.Decide(ctx, f.Request, Now); err != nil || !d.Allow {
			b.Fatalf("opa denied the allowed request (error %v)", err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := opa.Decide(ctx, f.Request, Now); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, method := range []string{"HS256", "ES256"} {
		name := map[string]string{"HS256": "jwt-hs256", "ES256": "jwt-es256"}[method]
		b.Run(name, func(b *testing.B) {
			peer, err := NewJWT(method, f, func() time.Time { return Now })
			if err != nil {
				b.Fatal(err)
			}
			req := AllowRequest(peer.Token)
			if d, err := peer.Decide(req); err != nil || !d.Allow {
				b.Fatalf("%s denied the allowed request (error %v)", name, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				peer.Decide(req)
			}
		})
	}
}
