//go:build !wasm

package emulator

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/plugin/filter"
)

func TestStart_SecondHostFails(t *testing.T) {
	h, err := Start(filter.NewVMContext(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.Started() {
		t.Error("the filter started without a configuration")
	}
	if _, err := Start(filter.NewVMContext(), nil); !errors.Is(err, ErrHostInUse) {
		t.Errorf("second Start: error %v, want ErrHostInUse", err)
	}
	h.Close()
	h.Close() // a second Close does nothing

	h, err = Start(filter.NewVMContext(), nil)
	if err != nil {
		t.Fatalf("Start after Close: %v", err)
	}
	h.Close()
}

// denialResult returns the outputs of a scope_missing denial of tok_a.
func denialResult() Result {
	line := filter.Denial{Status: 403, Reason: core.ReasonScopeMissing, TokenID: "tok_a", Permission: "USER", Method: "POST", Path: "/rest/api/v1/chat"}
	return Result{
		Action: types.ActionPause,
		Reply: &Reply{
			Status:  403,
			Headers: [][2]string{{"www-authenticate", `Bearer realm="glean", error="insufficient_scope", scope="CHAT"`}},
			Body:    []byte(`{"error":"insufficient_scope","reason":"scope_missing","message":"m"}`),
		},
		Logs:     []LogLine{{Level: "info", Message: line.String()}},
		Counters: map[string]uint64{filter.DecisionMetric(core.ReasonScopeMissing): 1},
	}
}

// allowResult returns the outputs of an ok decision of tok_a.
func allowResult() Result {
	return Result{
		Action: types.ActionContinue,
		Forwarded: [][2]string{
			{":path", "/rest/api/v1/search"},
			{"x-tokengate-token-id", "tok_a"},
			{"x-tokengate-permission", "USER"},
			{"x-tokengate-scope", "SEARCH"},
			{"x-tokengate-user", "a@example.com"},
		},
		Counters: map[string]uint64{filter.DecisionMetric(core.ReasonOK): 1},
	}
}

func TestResultDecision_ReadsOutputs(t *testing.T) {
	d, err := denialResult().Decision()
	if err != nil {
		t.Fatal(err)
	}
	want := core.Decision{Status: 403, Reason: core.ReasonScopeMissing, Error: "insufficient_scope", TokenID: "tok_a", Permission: core.PermissionUser, Scope: core.ScopeChat}
	if d != want {
		t.Errorf("denial = %+v, want %+v", d, want)
	}

	d, err = allowResult().Decision()
	if err != nil {
		t.Fatal(err)
	}
	want = core.Decision{Allow: true, Status: 200, Reason: core.ReasonOK, TokenID: "tok_a", Permission: core.PermissionUser, Principal: "a@example.com", Scope: core.ScopeSearch}
	if d != want {
		t.Errorf("allow = %+v, want %+v", d, want)
	}
}

func TestResultDecision_Errors(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *Result)
		base   func() Result
		want   string
	}{
		{"no decision counted", func(r *Result) { r.Counters = nil }, denialResult, "counted 0 decisions"},
		{"two decisions counted", func(r *Result) { r.Counters[filter.DecisionMetric(core.ReasonOK)] = 1 }, denialResult, "counted 2 decisions"},
		{"one decision counted twice", func(r *Result) { r.Counters[filter.DecisionMetric(core.ReasonScopeMissing)] = 2 }, denialResult, "2 times"},
		{"body reason differs", func(r *Result) { r.Reply.Body = []byte(`{"error":"x","reason":"unknown_token","message":"m"}`) }, denialResult, "but the filter counted"},
		{"body not json", func(r *Result) { r.Reply.Body = []byte("denied") }, denialResult, "not JSON"},
		{"no denial line", func(r *Result) { r.Logs = nil }, denialResult, "no denial line"},
		{"no challenge scope", func(r *Result) { r.Reply.Headers = nil }, denialResult, "WWW-Authenticate"},
		{"paused without a reply", func(r *Result) { r.Action, r.Forwarded = types.ActionPause, nil }, allowResult, "neither replied nor continued"},
		{"identity header missing", func(r *Result) { r.Forwarded = r.Forwarded[:2] }, allowResult, "X-Tokengate-Permission"},
		{"identity header twice", func(r *Result) { r.Forwarded = append(r.Forwarded, [2]string{"x-tokengate-token-id", "tok_b"}) }, allowResult, "2 X-Tokengate-Token-Id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.base()
			tt.change(&r)
			d, err := r.Decision()
			if err == nil {
				t.Fatalf("Decision() = %+v, want an error", d)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			if d.Allow || d.Status != 503 {
				t.Errorf("decision with the error = %+v, want 503 not_configured", d)
			}
		})
	}
}

func TestModuleIsFresh_ComparesSources(t *testing.T) {
	root := t.TempDir()
	write := func(rel string, at time.Time) string {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := time.Now().Add(-time.Hour)
	write("go.mod", base)
	write("go.sum", base)
	write("core/decide.go", base)
	source := write("plugin/filter/filter.go", base)
	write("plugin/filter/filter_test.go", base.Add(30*time.Minute)) // tests are not sources
	module := filepath.Join(root, "build", ModuleName)

	check := func(want bool) {
		t.Helper()
		got, err := moduleIsFresh(root, module)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("moduleIsFresh = %t, want %t", got, want)
		}
	}
	check(false) // missing
	write("build/"+ModuleName, base.Add(10*time.Minute))
	check(true)
	if err := os.Chtimes(source, base.Add(20*time.Minute), base.Add(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	check(false) // a source is newer
}
