package conformance

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/engine"
	"github.com/tokengate/tokengate/host/policyfile"
)

// Project files, relative to this package.
const (
	casesPath         = "../../tests/testdata/cases.json"
	scopesPath        = "../../scopes.yaml"
	corePolicyFixture = "../../core/testdata/default-policy.json"
)

// loadDefault reads the conformance file and compiles the default policy.
func loadDefault(t *testing.T) (*File, *core.Policy) {
	t.Helper()
	f, err := Load(casesPath)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	policy, err := policyfile.Load(scopesPath)
	if err != nil {
		t.Fatalf("policyfile.Load: %v", err)
	}
	return f, policy
}

// TestRun_CasesFile runs the project's conformance file against the native engine, opened
// from a bundle as the CLI opens it.
func TestRun_CasesFile(t *testing.T) {
	f, policy := loadDefault(t)
	if len(f.Cases) == 0 {
		t.Fatalf("%s has no cases", casesPath)
	}
	bundle, err := f.Bundle(policy)
	if err != nil {
		t.Fatalf("Bundle: %v", err)
	}
	ctx := context.Background()
	e, err := engine.Open(ctx, "native", bundle, engine.Options{})
	if err != nil {
		t.Fatalf("engine.Open(native): %v", err)
	}
	defer e.Close(ctx)

	results := Run(ctx, e, f)
	if len(results) != len(f.Cases) {
		t.Fatalf("Run returned %d results for %d cases", len(results), len(f.Cases))
	}
	reasons := map[string]bool{}
	for _, r := range results {
		reasons[r.Decision.Reason.String()] = true
		if !r.Passed() {
			t.Errorf("case %q: error %v, mismatches %+v", r.Case.Name, r.Err, r.Mismatches)
		}
	}

	// The file exercises every reason that the default policy can produce. Public endpoints
	// are off by default and a configured engine is never unconfigured.
	for _, reason := range core.AllReasons() {
		if reason == core.ReasonPublicEndpoint || reason == core.ReasonNotConfigured {
			continue
		}
		if !reasons[reason.String()] {
			t.Errorf("no conformance case decides %s", reason)
		}
	}
}

// TestRun_CasesFileWithoutBundle decides the cases with a validator built directly, so a
// bundle bug cannot hide a core bug or the other way round.
func TestRun_CasesFileWithoutBundle(t *testing.T) {
	f, policy := loadDefault(t)
	store, err := core.NewStore(f.Tokens)
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	e := engine.NewNative(core.NewValidator(policy, store))
	for _, r := range Run(context.Background(), e, f) {
		if !r.Passed() {
			t.Errorf("case %q: mismatches %+v", r.Case.Name, r.Mismatches)
		}
	}
}

// TestDefaultPolicy_MatchesCoreFixture checks that scopes.yaml compiles to the spec in
// core/testdata/default-policy.json, which core's tests build in Go.
func TestDefaultPolicy_MatchesCoreFixture(t *testing.T) {
	_, policy := loadDefault(t)
	data, err := os.ReadFile(corePolicyFixture)
	if err != nil {
		t.Fatalf("read %s: %v", corePolicyFixture, err)
	}
	var fixture core.PolicySpec
	if err := json.Unmarshal(data, &fixture); err != nil {
		t.Fatalf("%s: %v", corePolicyFixture, err)
	}
	got := policy.Spec()
	sortEndpoints(got.Endpoints)
	sortEndpoints(fixture.Endpoints)
	if !reflect.DeepEqual(got, fixture) {
		t.Errorf("scopes.yaml compiles to\n%+v\nbut %s has\n%+v\nupdate defaultEndpoints in core/fixture_test.go and run go test ./core -run TestDefaultSpec -update",
			got, corePolicyFixture, fixture)
	}
}

func sortEndpoints(es []core.Endpoint) {
	slices.SortFunc(es, func(a, b core.Endpoint) int { return strings.Compare(a.String(), b.String()) })
}

// TestRun_ReportsMismatch changes what a real case expects and checks that the runner
// reports the difference instead of passing it.
func TestRun_ReportsMismatch(t *testing.T) {
	f, policy := loadDefault(t)
	bundle, err := f.Bundle(policy)
	if err != nil {
		t.Fatalf("Bundle: %v", err)
	}
	ctx := context.Background()
	e, err := engine.Open(ctx, "native", bundle, engine.Options{})
	if err != nil {
		t.Fatalf("engine.Open: %v", err)
	}
	c := f.Cases[0]
	c.Expect = map[string]any{"allow": !c.Expect["allow"].(bool), "status": float64(418), "reason": "ok", "scope": nil}
	results := Run(ctx, e, &File{Now: f.Now, Tokens: f.Tokens, Cases: []Case{c}})
	if len(results) != 1 || results[0].Passed() {
		t.Fatalf("Run = %+v, want one failed result", results)
	}
	var fields []string
	for _, m := range results[0].Mismatches {
		fields = append(fields, m.Field)
	}
	want := []string{"allow", "status"}
	if results[0].Decision.Scope != 0 {
		want = append(want, "scope")
	}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("mismatched fields %q, want %q", fields, want)
	}
}

func TestCompare(t *testing.T) {
	d := core.Decision{Allow: false, Status: 403, Reason: core.ReasonScopeMissing, Error: "insufficient_scope",
		TokenID: "tok_a", Permission: core.PermissionUser, Scope: core.ScopeChat}
	cases := []struct {
		name   string
		expect map[string]any
		fields []string
	}{
		{"all equal", map[string]any{"allow": false, "status": float64(403), "reason": "scope_missing", "error": "insufficient_scope",
			"token_id": "tok_a", "permission": "USER", "principal": "", "scope": "CHAT"}, nil},
		{"nothing expected", map[string]any{}, nil},
		{"null matches an empty field", map[string]any{"principal": nil}, nil},
		{"null does not match a set field", map[string]any{"token_id": nil}, []string{"token_id"}},
		{"status differs", map[string]any{"status": float64(401)}, []string{"status"}},
		{"status as a string", map[string]any{"status": "403"}, []string{"status"}},
		{"allow differs", map[string]any{"allow": true}, []string{"allow"}},
		{"reason and scope differ", map[string]any{"reason": "ok", "scope": "SEARCH"}, []string{"reason", "scope"}},
		{"empty string is not absent", map[string]any{"token_id": ""}, []string{"token_id"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var fields []string
			for _, m := range Compare(Case{Expect: c.expect}, d) {
				fields = append(fields, m.Field)
			}
			if !reflect.DeepEqual(fields, c.fields) {
				t.Errorf("mismatched fields %q, want %q", fields, c.fields)
			}
		})
	}
}

func TestParse_CaseInstant(t *testing.T) {
	data := `{"now": "2026-06-01T12:00:00Z", "tokens": [], "cases": [
		{"name": "own instant", "method": "GET", "path": "/", "headers": [], "now": "2027-01-01T00:00:00Z", "expect": {}},
		{"name": "file instant", "method": "GET", "path": "/", "headers": [["A", "b"]], "expect": {}}]}`
	f, err := Parse("inline.json", []byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := f.Cases[0].Instant(f); !got.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("own instant = %s", got)
	}
	if got := f.Cases[1].Instant(f); !got.Equal(f.Now) {
		t.Errorf("file instant = %s, want %s", got, f.Now)
	}
	if got := f.Cases[1].Request().Headers; !reflect.DeepEqual(got, []core.Header{{Name: "A", Value: "b"}}) {
		t.Errorf("headers = %v", got)
	}
}

func TestParse_Errors(t *testing.T) {
	token := `{"id": "tok_a", "secret": "glean_x", "permission": "USER", "user": "a@example.com", "scopes": ["SEARCH"]}`
	wrap := func(tokens, cases string) string {
		return `{"now": "2026-06-01T12:00:00Z", "tokens": [` + tokens + `], "cases": [` + cases + `]}`
	}
	cases := []struct {
		name string
		data string
		want string
	}{
		{"not json", `now: today`, "bad.json: invalid character"},
		{"token without secret", wrap(`{"id": "tok_a", "permission": "USER", "user": "a@example.com", "scopes": ["SEARCH"]}`, ""), "bad.json: token 0: missing secret"},
		{"token with empty secret", wrap(`{"id": "tok_a", "secret": "", "permission": "USER", "scopes": ["SEARCH"]}`, ""), "token 0: missing secret"},
		{"token with unknown scope", wrap(strings.Replace(token, "SEARCH", "DOCS", 1), ""), `bad.json: token 0: unknown scope "DOCS"`},
		{"token with unknown field", wrap(strings.Replace(token, `"scopes"`, `"roles": [], "scopes"`, 1), ""), `unknown field "roles"`},
		{"unknown expected field", wrap(token, `{"name": "c1", "method": "GET", "path": "/", "headers": [], "expect": {"reson": "ok"}}`), `case 0 (c1): unknown expected field "reson"`},
		{"header not a pair", wrap(token, `{"name": "c1", "method": "GET", "path": "/", "headers": [["A"]], "expect": {}}`), "want [name, value], got 1 elements"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse("bad.json", []byte(c.data))
			if err == nil {
				t.Fatalf("Parse succeeded with %d cases, want an error containing %q", len(f.Cases), c.want)
			}
			if f != nil {
				t.Errorf("Parse returned a file with the error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestBundle_RejectsDuplicateTokens(t *testing.T) {
	f, policy := loadDefault(t)
	dup := *f
	dup.Tokens = append(append([]core.Token(nil), f.Tokens...), f.Tokens[0])
	if _, err := dup.Bundle(policy); err == nil || !strings.Contains(err.Error(), "duplicate id") {
		t.Errorf("Bundle with a duplicate token = %v, want a duplicate id error", err)
	}
}
