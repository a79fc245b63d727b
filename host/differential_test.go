package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
)

// differentialCase is one request of the differential test.
type differentialCase struct {
	name string
	req  core.Request
	now  time.Time
}

func differentialCases(t *testing.T, count int) []differentialCase {
	f, _ := loadCases(t)
	var cases []differentialCase
	for _, c := range f.Cases {
		cases = append(cases, differentialCase{c.Name, c.Request(), c.Instant(f)})
	}
	g := newRequestGenerator(t, f, 20260601)
	for i := range count {
		req, now := g.request()
		cases = append(cases, differentialCase{fmt.Sprintf("random %d", i), req, now})
	}
	return cases
}

// TestDecide_Differential requires the native core, the lean ABI and the Extism decide
// export to return identical decisions for the conformance cases and random requests.
func TestDecide_Differential(t *testing.T) {
	count := 3000
	if testing.Short() {
		count = 1000
	}
	_, bundle := loadCases(t)
	native, _, err := core.DecodeBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, hostOptions(bundle))
	ctx := context.Background()
	reasons := map[core.Reason]int{}
	for _, c := range differentialCases(t, count) {
		want := native.Decide(c.req, c.now)
		reasons[want.Reason]++
		lean, err := h.Decide(ctx, c.req, c.now)
		if err != nil {
			t.Fatalf("%s: lean: %v", c.name, err)
		}
		if lean != want {
			t.Errorf("%s: %+v\nlean   %+v\nnative %+v", c.name, c.req, lean, want)
		}
		out, err := h.DecideJSON(ctx, decideInput(t, c.req, c.now))
		if err != nil {
			t.Fatalf("%s: extism: %v", c.name, err)
		}
		var viaJSON core.Decision
		if err := json.Unmarshal(out, &viaJSON); err != nil {
			t.Fatalf("%s: decode %s: %v", c.name, out, err)
		}
		if viaJSON != want {
			t.Errorf("%s: %+v\nextism %+v\nnative %+v", c.name, c.req, viaJSON, want)
		}
	}
	// The generator must reach every reason but not_configured, or the test proves little.
	for _, r := range core.AllReasons() {
		if r != core.ReasonNotConfigured && r != core.ReasonPublicEndpoint && reasons[r] == 0 {
			t.Errorf("no request was decided %s", r)
		}
	}
	t.Logf("reasons: %v", reasons)
}

// TestDecide_ExtismSDK runs the conformance cases through the decide export under the
// Extism Go SDK, which is how other Extism hosts load the module.
func TestDecide_ExtismSDK(t *testing.T) {
	f, bundle := loadCases(t)
	native, _, err := core.DecodeBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	plugin := newExtismPlugin(t, bundle)
	for _, c := range f.Cases {
		rc, out, err := plugin.Call("decide", decideInput(t, c.Request(), c.Instant(f)))
		if err != nil || rc != 0 {
			t.Fatalf("%s: code %d, error %v", c.Name, rc, err)
		}
		var d core.Decision
		if err := json.Unmarshal(out, &d); err != nil {
			t.Fatalf("%s: decode %s: %v", c.Name, out, err)
		}
		if want := native.Decide(c.Request(), c.Instant(f)); d != want {
			t.Errorf("%s:\nextism %+v\nnative %+v", c.Name, d, want)
		}
	}
}

// TestDecide_ExtismSDKClock decides without "now" under the Extism Go SDK with the system
// clock enabled, as docs/embedding.md recommends for Extism hosts.
func TestDecide_ExtismSDKClock(t *testing.T) {
	f, bundle := loadCases(t)
	rc, out, err := newExtismPlugin(t, bundle).Call("decide", expiredTokenInput(f))
	if err != nil || rc != 0 {
		t.Fatalf("code %d, error %v", rc, err)
	}
	assertExpired(t, out)
}
