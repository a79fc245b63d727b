package host_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host"
)

// TestDecide_TrapReplacesInstance makes the only instance run out of memory with a request
// larger than its memory limit, then requires a 503 with an error for that request and a
// correct decision from a fresh instance for the next.
func TestDecide_TrapReplacesInstance(t *testing.T) {
	f, bundle := loadCases(t)
	var log strings.Builder
	h := newHost(t, host.Options{Bundle: bundle, PoolSize: 1, MemoryLimitPages: 512, Logger: textLogger(&log)})
	ctx := context.Background()
	c := f.Cases[0]
	want, err := h.Decide(ctx, c.Request(), c.Instant(f))
	if err != nil {
		t.Fatal(err)
	}

	huge := c.Request()
	huge.Headers = append(huge.Headers, core.Header{Name: "X-Padding", Value: strings.Repeat("a", 40<<20)})
	d, err := h.Decide(ctx, huge, c.Instant(f))
	if err == nil {
		t.Fatal("no error for a request larger than guest memory")
	}
	if d != core.NotConfigured() {
		t.Errorf("decision %+v, want not_configured", d)
	}
	if !strings.Contains(err.Error(), "trapped") || !strings.Contains(err.Error(), "out of memory") {
		t.Errorf("error %q does not report a trap for lack of memory", err)
	}
	if !strings.Contains(log.String(), "discarding trapped module instance") {
		t.Errorf("log does not report the discarded instance:\n%s", log.String())
	}

	for i := range 3 {
		d, err := h.Decide(ctx, c.Request(), c.Instant(f))
		if err != nil {
			t.Fatalf("call %d after the trap: %v", i, err)
		}
		if d != want {
			t.Errorf("call %d after the trap: %+v, want %+v", i, d, want)
		}
	}
}

// TestDecideJSON_TrapReplacesInstance traps the decide export with an input larger than the
// memory limit.
func TestDecideJSON_TrapReplacesInstance(t *testing.T) {
	f, bundle := loadCases(t)
	h := newHost(t, host.Options{Bundle: bundle, PoolSize: 1, MemoryLimitPages: 512})
	ctx := context.Background()
	c := f.Cases[0]
	huge := c.Request()
	huge.Headers = append(huge.Headers, core.Header{Name: "X-Padding", Value: strings.Repeat("a", 40<<20)})
	out, err := h.DecideJSON(ctx, decideInput(t, huge, c.Instant(f)))
	if err == nil || !strings.Contains(err.Error(), "trapped") {
		t.Fatalf("error %v, want a trap for an input larger than guest memory", err)
	}
	if !strings.Contains(string(out), `"reason":"not_configured"`) {
		t.Errorf("output %s, want not_configured", out)
	}
	if _, err := h.DecideJSON(ctx, decideInput(t, c.Request(), c.Instant(f))); err != nil {
		t.Errorf("after the trap: %v", err)
	}
	if _, err := h.Decide(ctx, c.Request(), c.Instant(f)); err != nil {
		t.Errorf("lean call after the trap: %v", err)
	}
}
