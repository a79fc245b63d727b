package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/policyfile"
	"github.com/tokengate/tokengate/internal/leanabi"
)

const testSecret = "glean_gblGr2ccFaotRkgwmtVil6GCcs8dIt0ambjt"

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testBundle returns a bundle of the default policy with one USER token with SEARCH.
func testBundle(t testing.TB) []byte {
	t.Helper()
	policy, err := policyfile.Load("../scopes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	store, err := core.NewStore([]core.Token{{
		ID: "tok_ann", Digest: core.Digest(testSecret), Permission: core.PermissionUser,
		Scopes: core.NewScopeSet(core.ScopeSearch), User: "ann@example.com",
	}})
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := core.EncodeBundle(policy, store)
	if err != nil {
		t.Fatal(err)
	}
	return bundle
}

var searchRequest = core.Request{
	Method:  "POST",
	Path:    "/rest/api/v1/search",
	Headers: []core.Header{{Name: "Authorization", Value: "Bearer " + testSecret}},
}

func decodeDecision(t *testing.T, out []byte) core.Decision {
	t.Helper()
	var d core.Decision
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	return d
}

func TestGuest_DecideJSON(t *testing.T) {
	g := newGuest()
	if err := g.loadConfig(string(testBundle(t)), true); err != nil {
		t.Fatal(err)
	}
	in := `{"method": "POST", "path": "/rest/api/v1/search", "headers": [["Authorization", "Bearer ` + testSecret + `"]], "now": "2026-06-01T12:00:00Z"}`
	out, err := g.decideJSON([]byte(in), func() time.Time { t.Fatal("clock read although now is set"); return time.Time{} })
	if err != nil {
		t.Fatal(err)
	}
	if d := decodeDecision(t, out); d.Reason != core.ReasonOK || d.Principal != "ann@example.com" {
		t.Errorf("decision %+v, want ok for ann@example.com", d)
	}
}

func TestGuest_DecideJSONClock(t *testing.T) {
	g := newGuest()
	if err := g.load(testBundle(t)); err != nil {
		t.Fatal(err)
	}
	read := false
	in := `{"method": "POST", "path": "/rest/api/v1/search", "headers": []}`
	if _, err := g.decideJSON([]byte(in), func() time.Time { read = true; return testNow }); err != nil {
		t.Fatal(err)
	}
	if !read {
		t.Error("clock not read without now")
	}
}

func TestGuest_DecideJSONInvalid(t *testing.T) {
	g := newGuest()
	for _, in := range []string{``, `{`, `{"method": "GET", "x": 1}`, `{"headers": [["only name"]]}`, `{"now": "yesterday"}`} {
		if out, err := g.decideJSON([]byte(in), time.Now); err == nil {
			t.Errorf("%q: no error, output %s", in, out)
		}
	}
}

func TestGuest_MissingConfigLoggedOnce(t *testing.T) {
	g := newGuest()
	err := g.loadConfig("", false)
	if err == nil || !strings.Contains(err.Error(), `"bundle"`) {
		t.Fatalf("error %v, want one naming the config key", err)
	}
	if err := g.loadConfig("", false); err != nil {
		t.Errorf("second call returned %v; the error must be reported once", err)
	}
	out, err := g.decideJSON([]byte(`{"method": "GET", "path": "/"}`), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if d := decodeDecision(t, out); d != core.NotConfigured() {
		t.Errorf("decision %+v, want not_configured", d)
	}
}

func TestGuest_InvalidBundleClearsPrevious(t *testing.T) {
	g := newGuest()
	if err := g.load(testBundle(t)); err != nil {
		t.Fatal(err)
	}
	if err := g.load([]byte(`{"format": 1}`)); err == nil {
		t.Fatal("invalid bundle accepted")
	}
	if d := g.validator.Decide(searchRequest, testNow); d != core.NotConfigured() {
		t.Errorf("decision %+v after an invalid bundle, want not_configured", d)
	}
	var desc Description
	out, err := g.describeJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &desc); err != nil {
		t.Fatal(err)
	}
	if desc.Configured || desc.Error == "" {
		t.Errorf("description %+v, want not configured with an error", desc)
	}
}

func TestGuest_Describe(t *testing.T) {
	g := newGuest()
	if err := g.load(testBundle(t)); err != nil {
		t.Fatal(err)
	}
	out, err := g.describeJSON()
	if err != nil {
		t.Fatal(err)
	}
	var d Description
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	if !d.Configured || d.Tokens != 1 || d.Endpoints == 0 || d.Format != core.BundleFormatVersion || d.LeanABIVersion != leanabi.Version {
		t.Errorf("description %+v", d)
	}
	if !strings.HasPrefix(d.Digest, "sha256:") {
		t.Errorf("digest %q", d.Digest)
	}
}

func TestGuest_Lean(t *testing.T) {
	g := newGuest()
	bundle := testBundle(t)
	copy(g.buffer(uint32(len(bundle))), bundle)
	if msg := g.loadLean(uint32(len(bundle))); len(msg) != 0 {
		t.Fatalf("load: %s", msg)
	}
	n := leanabi.RequestSize(searchRequest)
	leanabi.PutRequest(g.buffer(uint32(n)), searchRequest, testNow.UnixNano())
	d, err := leanabi.DecodeDecision(g.decideLean(uint32(n)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := g.validator.Decide(searchRequest, testNow); d != want {
		t.Errorf("lean %+v, want %+v", d, want)
	}
}

func TestGuest_LeanErrors(t *testing.T) {
	g := newGuest()
	if msg := g.loadLean(uint32(len(g.in) + 1)); len(msg) == 0 {
		t.Error("load beyond the buffer succeeded")
	}
	if msg := g.loadLean(3); !strings.Contains(string(msg), "bundle") {
		t.Errorf("load of 3 zero bytes: message %q", msg)
	}
	for _, n := range []uint32{uint32(len(g.in) + 1), 5} {
		d, err := leanabi.DecodeDecision(g.decideLean(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		if d != core.NotConfigured() {
			t.Errorf("size %d: %+v, want not_configured", n, d)
		}
	}
}

func TestGuest_BufferGrows(t *testing.T) {
	g := newGuest()
	small := g.buffer(10)
	if len(small) < minBufferSize {
		t.Errorf("buffer of %d bytes, want at least %d", len(small), minBufferSize)
	}
	if again := g.buffer(100); &again[0] != &small[0] {
		t.Error("buffer moved for a request it already fits")
	}
	large := g.buffer(minBufferSize + 1)
	if len(large) < minBufferSize+1 || len(large)%minBufferSize != 0 {
		t.Errorf("grown buffer of %d bytes", len(large))
	}
}

func TestGuest_LeanCacheDroppedOnLoad(t *testing.T) {
	g := newGuest()
	loadLean(t, g, testBundle(t))
	if d := decideLean(t, g, searchRequest); d.Reason != core.ReasonOK {
		t.Fatalf("first bundle: reason %s, want ok", d.Reason)
	}
	if g.cache.Len() != 1 {
		t.Fatalf("cache holds %d credentials after a decision, want 1", g.cache.Len())
	}

	// The next bundle revokes the same secret.
	policy, err := policyfile.Load("../scopes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	store, err := core.NewStore([]core.Token{{
		ID: "tok_ann", Digest: core.Digest(testSecret), Permission: core.PermissionUser,
		Scopes: core.NewScopeSet(core.ScopeSearch), User: "ann@example.com",
		RevokedAt: testNow.Add(-time.Hour),
	}})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := core.EncodeBundle(policy, store)
	if err != nil {
		t.Fatal(err)
	}
	loadLean(t, g, revoked)
	if g.cache.Len() != 0 {
		t.Errorf("cache holds %d credentials after a load, want 0", g.cache.Len())
	}
	if d := decideLean(t, g, searchRequest); d.Reason != core.ReasonRevokedToken {
		t.Errorf("revoked in the next bundle: reason %s, want revoked_token", d.Reason)
	}
}

// loadLean loads bundle through the lean ABI, failing the test on a rejection.
func loadLean(t *testing.T, g *guest, bundle []byte) {
	t.Helper()
	copy(g.buffer(uint32(len(bundle))), bundle)
	if msg := g.loadLean(uint32(len(bundle))); len(msg) != 0 {
		t.Fatalf("load: %s", msg)
	}
}

// decideLean decides req at testNow through the lean ABI.
func decideLean(t *testing.T, g *guest, req core.Request) core.Decision {
	t.Helper()
	n := leanabi.RequestSize(req)
	leanabi.PutRequest(g.buffer(uint32(n)), req, testNow.UnixNano())
	d, err := leanabi.DecodeDecision(g.decideLean(uint32(n)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
