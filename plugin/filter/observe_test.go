//go:build !wasm

package filter_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/plugin/filter"
)

func TestMetricNames_FixedAndSafe(t *testing.T) {
	names := filter.MetricNames()
	if len(names) != core.NumReasons+4 {
		t.Errorf("%d metric names, want %d", len(names), core.NumReasons+4)
	}
	valid := regexp.MustCompile(`^tokengate_[a-z_]+$`)
	seen := map[string]bool{}
	for _, n := range names {
		if !valid.MatchString(n) {
			t.Errorf("metric name %q is not tokengate_ and lower-case words", n)
		}
		if seen[n] {
			t.Errorf("metric name %q is defined twice", n)
		}
		seen[n] = true
	}
	if got := filter.DecisionMetric(core.ReasonScopeMissing); got != "tokengate_decisions_scope_missing" {
		t.Errorf("DecisionMetric(scope_missing) = %q", got)
	}
}

func TestFilter_CountsEveryDecision(t *testing.T) {
	requests := []struct {
		method  string
		path    string
		headers []core.Header
		reason  core.Reason
	}{
		{"POST", apiBase + "/search", []core.Header{bearer("tok_user")}, core.ReasonOK},
		{"POST", apiBase + "/search", []core.Header{bearer("tok_anon")}, core.ReasonOK},
		{"POST", apiBase + "/chat", []core.Header{bearer("tok_user")}, core.ReasonScopeMissing},
		{"POST", apiBase + "/search", nil, core.ReasonMissingToken},
		{"OPTIONS", apiBase + "/search", preflight(), core.ReasonCORSPreflight},
	}
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		h := start(t, vm, config(t, options{}))
		if got := h.Counter(filter.MetricConfigLoads); got != 1 {
			t.Errorf("%s = %d after one start, want 1", filter.MetricConfigLoads, got)
		}
		if got := h.Counter(filter.MetricConfigFailures); got != 0 {
			t.Errorf("%s = %d, want 0", filter.MetricConfigFailures, got)
		}
		want := map[string]uint64{}
		for _, r := range requests {
			res := send(t, h, r.method, r.path, r.headers...)
			name := filter.DecisionMetric(r.reason)
			want[name]++
			if len(res.Counters) != 1 || res.Counters[name] != 1 {
				t.Errorf("%s %s: counters grew by %v, want only %s by 1", r.method, r.path, res.Counters, name)
			}
		}
		for _, name := range filter.MetricNames() {
			if !strings.HasPrefix(name, "tokengate_decisions_") {
				continue
			}
			if got := h.Counter(name); got != want[name] {
				t.Errorf("%s = %d, want %d", name, got, want[name])
			}
		}
	})
}

func TestFilter_LogsOneLinePerDenial(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		path    string
		headers []core.Header
		want    filter.Denial
	}{
		{
			name: "scope missing drops the query", method: "POST", path: apiBase + "/chat?q=secret-plans",
			headers: []core.Header{bearer("tok_user")},
			want:    filter.Denial{Status: 403, Reason: core.ReasonScopeMissing, TokenID: "tok_user", Permission: "USER", Method: "POST", Path: apiBase + "/chat"},
		},
		{
			name: "global token without act-as", method: "GET", path: apiBase + "/search",
			headers: []core.Header{bearer("tok_global")},
			want:    filter.Denial{Status: 400, Reason: core.ReasonActAsRequired, TokenID: "tok_global", Permission: "GLOBAL", Method: "GET", Path: apiBase + "/search"},
		},
		{
			name: "unknown token has no id", method: "POST", path: apiBase + "/search",
			headers: []core.Header{header("Authorization", "Bearer some-imported-token")},
			want:    filter.Denial{Status: 401, Reason: core.ReasonUnknownToken, Method: "POST", Path: apiBase + "/search"},
		},
		{
			name: "control characters stay escaped", method: "GET", path: apiBase + "/a\nb\x00c",
			want: filter.Denial{Status: 400, Reason: core.ReasonMalformedPath, Method: "GET", Path: apiBase + "/a\nb\x00c"},
		},
		{
			name: "long path is cut", method: "GET", path: apiBase + "/" + strings.Repeat("p", 1000),
			headers: []core.Header{bearer("tok_user")},
			want:    filter.Denial{Status: 403, Reason: core.ReasonEndpointUnmapped, TokenID: "tok_user", Permission: "USER", Method: "GET", Path: (apiBase + "/" + strings.Repeat("p", 1000))[:256] + "[truncated]"},
		},
	}
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		h := start(t, vm, config(t, options{}))
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := send(t, h, tt.method, tt.path, tt.headers...)
				lines := denialLines(t, res)
				if len(lines) != 1 {
					t.Fatalf("logged %d denial lines, want 1: %v", len(lines), res.Logs)
				}
				if lines[0] != tt.want {
					t.Errorf("denial line = %+v, want %+v", lines[0], tt.want)
				}
				for _, l := range res.Logs {
					if strings.ContainsAny(l.Message, "\n\x00") {
						t.Errorf("log line has a raw control character: %q", l.Message)
					}
				}
			})
		}
		res := send(t, h, "POST", apiBase+"/search", bearer("tok_user"))
		if len(res.Logs) != 0 {
			t.Errorf("an allowed request logged %v, want nothing", res.Logs)
		}
	})
}

func TestParseDenial_RoundTrip(t *testing.T) {
	lines := []filter.Denial{
		{Status: 401, Reason: core.ReasonUnknownToken, Method: "POST", Path: "/rest/api/v1/search"},
		{Shadow: true, Status: 403, Reason: core.ReasonScopeMissing, TokenID: `tok "x"`, Permission: "USER", Method: "GET", Path: "/a b\n\u00e9"},
	}
	for _, want := range lines {
		got, err := filter.ParseDenial(want.String())
		if err != nil {
			t.Fatalf("ParseDenial(%q): %v", want.String(), err)
		}
		if got != want {
			t.Errorf("ParseDenial(%q) = %+v, want %+v", want.String(), got, want)
		}
	}
}

func TestParseDenial_Errors(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		notLine bool
	}{
		{"other log line", "tokengate: configuration loaded", true},
		{"missing field", `tokengate: denied request: status=401 reason=unknown_token token_id="" permission="" method="GET"`, false},
		{"unknown reason", `tokengate: denied request: status=401 reason=nope token_id="" permission="" method="GET" path="/"`, false},
		{"bad quoting", `tokengate: denied request: status=401 reason=unknown_token token_id="x permission="" method="GET" path="/"`, false},
		{"trailing text", `tokengate: denied request: status=401 reason=unknown_token token_id="" permission="" method="GET" path="/" extra=1`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := filter.ParseDenial(tt.line)
			if err == nil {
				t.Fatal("ParseDenial returned no error")
			}
			if got := errors.Is(err, filter.ErrNotDenial); got != tt.notLine {
				t.Errorf("errors.Is(err, ErrNotDenial) = %t, want %t (err: %v)", got, tt.notLine, err)
			}
		})
	}
}
