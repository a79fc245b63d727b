package core

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var updateFixtures = flag.Bool("update", false, "rewrite testdata/default-policy.json and the FuzzDecide seed corpus")

// defaultPolicyFixture is the JSON form of defaultSpec. A host/conformance test checks that
// scopes.yaml compiles to the same spec, so the Go table here cannot drift from the YAML.
const defaultPolicyFixture = "testdata/default-policy.json"

func TestDefaultSpec_MatchesFixture(t *testing.T) {
	want, err := json.MarshalIndent(newDefaultPolicy(t).Spec(), "", "  ")
	if err != nil {
		t.Fatalf("marshal default spec: %v", err)
	}
	want = append(want, '\n')
	if *updateFixtures {
		if err := os.WriteFile(defaultPolicyFixture, want, 0o644); err != nil {
			t.Fatalf("write %s: %v", defaultPolicyFixture, err)
		}
	}
	got, err := os.ReadFile(defaultPolicyFixture)
	if err != nil {
		t.Fatalf("read %s: %v (run go test ./core -run TestDefaultSpec -update to create it)", defaultPolicyFixture, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from defaultSpec: update the Go table or the file (go test ./core -run TestDefaultSpec -update)", defaultPolicyFixture)
	}
}

func TestNewPolicy_Defaults(t *testing.T) {
	p, err := NewPolicy(PolicySpec{Endpoints: []Endpoint{{Method: "POST", Path: "/search", Scope: ScopeSearch}}})
	if err != nil {
		t.Fatalf("NewPolicy: %v", err)
	}
	spec := p.Spec()
	if spec.BasePath != DefaultBasePath {
		t.Errorf("base path = %q, want %q", spec.BasePath, DefaultBasePath)
	}
	if p.Realm() != DefaultRealm {
		t.Errorf("realm = %q, want %q", p.Realm(), DefaultRealm)
	}
	if p.Endpoints() != 1 {
		t.Errorf("Endpoints = %d, want 1", p.Endpoints())
	}
	if p.StripCredential() {
		t.Errorf("StripCredential = true, want false")
	}
}

func TestNewPolicy_CopiesEndpoints(t *testing.T) {
	spec := PolicySpec{Endpoints: []Endpoint{{Method: "POST", Path: "/search", Scope: ScopeSearch}}}
	p, err := NewPolicy(spec)
	if err != nil {
		t.Fatalf("NewPolicy: %v", err)
	}
	spec.Endpoints[0].Scope = ScopeChat
	out := p.Spec()
	out.Endpoints[0].Scope = ScopePins
	if e, ok := p.Match("POST", DefaultBasePath+"/search"); !ok || e.Scope != ScopeSearch {
		t.Errorf("Match = %+v, %v after the caller changed its slices, want scope SEARCH", e, ok)
	}
}

func TestPolicy_Match(t *testing.T) {
	p := newDefaultPolicy(t)
	for scope, entries := range defaultEndpoints {
		for _, entry := range entries {
			method, path, _ := strings.Cut(entry, " ")
			concrete := strings.NewReplacer("{fileId}", "f1", "{person_id}", "p1").Replace(path)
			e, ok := p.Match(method, DefaultBasePath+concrete)
			if !ok {
				t.Errorf("Match(%s %s) found nothing, want %s", method, concrete, scope)
				continue
			}
			if e.Scope != scope || e.Path != path || e.Method != method {
				t.Errorf("Match(%s %s) = %+v, want %s %s under %s", method, concrete, e, method, path, scope)
			}
		}
	}
	if _, ok := p.Match("POST", DefaultBasePath+"/getdocuments"); ok {
		t.Errorf("Match(POST /getdocuments) found an endpoint, want none")
	}
}

func TestNewPolicy_Errors(t *testing.T) {
	search := Endpoint{Method: "POST", Path: "/search", Scope: ScopeSearch}
	spec := func(mutate func(*PolicySpec)) PolicySpec {
		s := PolicySpec{Endpoints: []Endpoint{search}}
		mutate(&s)
		return s
	}
	endpoint := func(e Endpoint) PolicySpec { return PolicySpec{Endpoints: []Endpoint{e}} }
	cases := []struct {
		name string
		spec PolicySpec
		want string
	}{
		{"root base path", spec(func(s *PolicySpec) { s.BasePath = "/" }), `base path "/"`},
		{"relative base path", spec(func(s *PolicySpec) { s.BasePath = "rest" }), `base path "rest"`},
		{"base path with trailing slash", spec(func(s *PolicySpec) { s.BasePath = "/rest/" }), `base path "/rest/"`},
		{"base path with query", spec(func(s *PolicySpec) { s.BasePath = "/rest?x" }), `base path "/rest?x"`},
		{"base path with escape", spec(func(s *PolicySpec) { s.BasePath = "/r%41" }), `base path "/r%41"`},
		{"realm with quote", spec(func(s *PolicySpec) { s.Realm = `a"b` }), `realm "a\"b"`},
		{"realm with newline", spec(func(s *PolicySpec) { s.Realm = "a\nb" }), `realm "a\nb"`},
		{"negative clock skew", spec(func(s *PolicySpec) { s.ClockSkew = -time.Second }), "clock skew -1s is negative"},
		{"lower-case method", endpoint(Endpoint{Method: "post", Path: "/search", Scope: ScopeSearch}), `method "post"`},
		{"empty method", endpoint(Endpoint{Path: "/search", Scope: ScopeSearch}), `method ""`},
		{"method with space", endpoint(Endpoint{Method: "PO ST", Path: "/search", Scope: ScopeSearch}), `method "PO ST"`},
		{"relative pattern", endpoint(Endpoint{Method: "POST", Path: "search", Scope: ScopeSearch}), `path pattern "search"`},
		{"root pattern", endpoint(Endpoint{Method: "POST", Path: "/", Scope: ScopeSearch}), `path pattern "/"`},
		{"pattern with trailing slash", endpoint(Endpoint{Method: "POST", Path: "/search/", Scope: ScopeSearch}), `path pattern "/search/"`},
		{"pattern with dot segment", endpoint(Endpoint{Method: "POST", Path: "/a/../search", Scope: ScopeSearch}), `path pattern "/a/../search"`},
		{"pattern with query", endpoint(Endpoint{Method: "POST", Path: "/search?q", Scope: ScopeSearch}), `path pattern "/search?q"`},
		{"pattern with escape", endpoint(Endpoint{Method: "POST", Path: "/se%61rch", Scope: ScopeSearch}), `path pattern "/se%61rch"`},
		{"parameter inside a segment", endpoint(Endpoint{Method: "GET", Path: "/people/p{id}", Scope: ScopePeople}), `segment "p{id}"`},
		{"empty parameter name", endpoint(Endpoint{Method: "GET", Path: "/people/{}", Scope: ScopePeople}), `segment "{}"`},
		{"unclosed parameter", endpoint(Endpoint{Method: "GET", Path: "/people/{id", Scope: ScopePeople}), `segment "{id"`},
		{"parameter name with dash", endpoint(Endpoint{Method: "GET", Path: "/people/{a-b}", Scope: ScopePeople}), `segment "{a-b}"`},
		{"parameter name led by a digit", endpoint(Endpoint{Method: "GET", Path: "/people/{1a}", Scope: ScopePeople}), `segment "{1a}"`},
		{"no scope", endpoint(Endpoint{Method: "POST", Path: "/search"}), "endpoint POST /search has no valid scope"},
		{"invalid scope", endpoint(Endpoint{Method: "POST", Path: "/search", Scope: Scope(NumScopes + 1)}), "endpoint POST /search has no valid scope"},
		{"public and scoped", endpoint(Endpoint{Method: "GET", Path: "/status", Scope: ScopeSearch, Public: true}), "both public and under scope SEARCH"},
		{"public and anonymous", endpoint(Endpoint{Method: "GET", Path: "/status", Public: true, Anonymous: true}), "both public and anonymous"},
		{"duplicate endpoint", spec(func(s *PolicySpec) { s.Endpoints = append(s.Endpoints, search) }), "endpoint POST /search is listed twice"},
		{"duplicate under two scopes", spec(func(s *PolicySpec) {
			s.Endpoints = append(s.Endpoints, Endpoint{Method: "POST", Path: "/search", Scope: ScopeChat})
		}), "endpoint POST /search is listed twice"},
		{"duplicate pattern with other parameter names", PolicySpec{Endpoints: []Endpoint{
			{Method: "GET", Path: "/people/{a}/photo", Scope: ScopePeople},
			{Method: "GET", Path: "/people/{b}/photo", Scope: ScopePeople},
		}}, "endpoint GET /people/{b}/photo is listed twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := NewPolicy(c.spec)
			if err == nil {
				t.Fatalf("NewPolicy succeeded, want an error containing %q", c.want)
			}
			if p != nil {
				t.Errorf("NewPolicy returned a policy with the error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestPolicySpec_JSONRoundTrip(t *testing.T) {
	spec := defaultSpec()
	spec.ClockSkew = 1500 * time.Millisecond
	spec.StripCredential = true
	spec.Endpoints = append(spec.Endpoints, Endpoint{Method: "GET", Path: "/status", Public: true})
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var got PolicySpec
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("unmarshal %s: %v", data, err)
	}
	if got.ClockSkew != spec.ClockSkew {
		t.Errorf("clock skew = %s, want %s", got.ClockSkew, spec.ClockSkew)
	}
	if len(got.Endpoints) != len(spec.Endpoints) {
		t.Fatalf("%d endpoints, want %d", len(got.Endpoints), len(spec.Endpoints))
	}
	for i := range spec.Endpoints {
		if got.Endpoints[i] != spec.Endpoints[i] {
			t.Errorf("endpoint %d = %+v, want %+v", i, got.Endpoints[i], spec.Endpoints[i])
		}
	}
}
