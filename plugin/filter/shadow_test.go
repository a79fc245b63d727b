//go:build !wasm

package filter_test

import (
	"errors"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/plugin/emulator"
	"github.com/tokengate/tokengate/plugin/filter"
)

func TestFilter_ShadowModeForwardsEveryRequest(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		path     string
		headers  []core.Header
		reason   core.Reason
		identity bool
	}{
		{"ok", "POST", apiBase + "/search", []core.Header{bearer("tok_user")}, core.ReasonOK, true},
		{"missing token", "POST", apiBase + "/search", nil, core.ReasonMissingToken, false},
		{"scope missing", "POST", apiBase + "/chat", []core.Header{bearer("tok_user")}, core.ReasonScopeMissing, false},
		{"revoked token", "POST", apiBase + "/search", []core.Header{bearer("tok_revoked")}, core.ReasonRevokedToken, false},
		{"malformed path", "GET", apiBase + "/a/../b", nil, core.ReasonMalformedPath, false},
		{"cors preflight", "OPTIONS", apiBase + "/search", preflight(), core.ReasonCORSPreflight, false},
	}
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		h := start(t, vm, config(t, options{shadow: true}))
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := send(t, h, tt.method, tt.path, tt.headers...)
				mustForward(t, res)
				if got := only(t, res, core.HeaderShadowReason); got != tt.reason.String() {
					t.Errorf("%s = %q, want %q", core.HeaderShadowReason, got, tt.reason)
				}
				if got := len(res.Header(core.HeaderTokenID)) > 0; got != tt.identity {
					t.Errorf("identity headers present = %t, want %t", got, tt.identity)
				}
				if got := res.Counters[filter.DecisionMetric(tt.reason)]; got != 1 {
					t.Errorf("%s grew by %d, want 1", filter.DecisionMetric(tt.reason), got)
				}
				wantShadowDenials := uint64(0)
				if !tt.reason.Allow() {
					wantShadowDenials = 1
				}
				if got := res.Counters[filter.MetricShadowDenials]; got != wantShadowDenials {
					t.Errorf("%s grew by %d, want %d", filter.MetricShadowDenials, got, wantShadowDenials)
				}
				lines := denialLines(t, res)
				if tt.reason.Allow() {
					if len(lines) != 0 {
						t.Errorf("allowed request logged denial lines %v", lines)
					}
					return
				}
				if len(lines) != 1 {
					t.Fatalf("logged %d denial lines, want 1: %v", len(lines), res.Logs)
				}
				if !lines[0].Shadow || lines[0].Reason != tt.reason {
					t.Errorf("denial line = %+v, want a shadow line with reason %s", lines[0], tt.reason)
				}
			})
		}
	})
}

// denialLines returns the parsed denial lines a request logged.
func denialLines(t *testing.T, res emulator.Result) []filter.Denial {
	t.Helper()
	var out []filter.Denial
	for _, l := range res.Logs {
		d, err := filter.ParseDenial(l.Message)
		if errors.Is(err, filter.ErrNotDenial) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if l.Level != "info" {
			t.Errorf("denial line logged at level %s, want info", l.Level)
		}
		out = append(out, d)
	}
	return out
}
