package host

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/core"
)

// TestDecide_SoakMemoryFlat decides 1,000,000 requests with varied headers on one instance
// and requires its memory to grow by at most 1 MiB after a warm-up.
func TestDecide_SoakMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: 1,000,000 decisions")
	}
	const (
		decisions = 1_000_000
		warmUp    = 20_000
		maxGrowth = 1 << 20
	)
	bundle, base := fixtureBundle(t)
	h := startHost(t, Options{Bundle: bundle, PoolSize: 1})
	ctx := context.Background()
	requests := soakRequests(base)

	inst, _, err := h.take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.put(inst, nil)
	var before uint32
	for i := range decisions {
		if i == warmUp {
			before = inst.memory.Size()
		}
		req := requests[i%len(requests)]
		d, err := h.Decide(ctx, req, fixtureNow)
		if err != nil {
			t.Fatalf("decision %d: %v", i, err)
		}
		if d.Reason == core.ReasonNotConfigured {
			t.Fatalf("decision %d: not_configured", i)
		}
	}
	after := inst.memory.Size()
	if got, _, _ := h.take(ctx); got != inst {
		t.Fatal("the soak ran on more than one instance")
	} else {
		h.put(got, nil)
	}
	t.Logf("guest memory after %d warm-up decisions: %d pages (%d bytes); after %d: %d pages (%d bytes)",
		warmUp, before/65536, before, decisions, after/65536, after)
	if after > before+maxGrowth {
		t.Errorf("guest memory grew by %d bytes after warm-up, more than %d", after-before, maxGrowth)
	}
}

// soakRequests returns variations of base: extra headers of sizes up to 2 KiB, act-as values
// that are rejected, and other paths.
func soakRequests(base core.Request) []core.Request {
	r := rand.New(rand.NewPCG(1, 2))
	paths := []string{base.Path, base.Path + "?q=" + strings.Repeat("x", 100), "/rest/api/v1/chat", "/rest/api/v1//search"}
	out := make([]core.Request, 4096)
	for i := range out {
		req := core.Request{Method: base.Method, Path: paths[r.IntN(len(paths))]}
		req.Headers = append(req.Headers, base.Headers...)
		for j := range r.IntN(12) {
			value := strings.Repeat(strconv.Itoa(i), 1+r.IntN(2048/len(strconv.Itoa(i))))
			req.Headers = append(req.Headers, core.Header{Name: "X-Extra-" + strconv.Itoa(j), Value: value})
		}
		if r.IntN(8) == 0 {
			req.Headers = append(req.Headers, core.Header{Name: core.HeaderGleanActAs, Value: "user" + strconv.Itoa(i) + "@example.com"})
		}
		out[i] = req
	}
	return out
}
