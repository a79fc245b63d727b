package policyfile

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
)

const scopesPath = "../../scopes.yaml"

// validPolicy is a small policy file that every error case changes in one place.
const validPolicy = `version: 1
scopes:
  SEARCH:
    description: Search.
    endpoints:
      - POST /search
      - POST /autocomplete
  PEOPLE:
    endpoints:
      - GET /people/{person_id}/photo
anonymous:
  - POST /search
`

func TestLoad_ScopesYAML(t *testing.T) {
	p, err := Load(scopesPath)
	if err != nil {
		t.Fatalf("Load(%s): %v", scopesPath, err)
	}
	spec := p.Spec()
	if spec.BasePath != "/rest/api/v1" || spec.Realm != "glean" {
		t.Errorf("base path %q, realm %q, want /rest/api/v1 and glean", spec.BasePath, spec.Realm)
	}
	if !spec.AllowCORSPreflight || spec.StripCredential || spec.ClockSkew != 0 {
		t.Errorf("options %+v, want preflights allowed, credential kept, no clock skew", spec)
	}
	var anonymous []string
	for _, e := range spec.Endpoints {
		if e.Anonymous {
			anonymous = append(anonymous, e.String())
		}
		if e.Public {
			t.Errorf("endpoint %s is public, want no public endpoint", e)
		}
	}
	if want := []string{"POST /autocomplete", "POST /search"}; !reflect.DeepEqual(anonymous, want) {
		t.Errorf("anonymous endpoints %q, want %q", anonymous, want)
	}
}

func TestLoad_MissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if err == nil || !strings.Contains(err.Error(), "does-not-exist.yaml") {
		t.Fatalf("Load(missing) = %v, want an error naming the file", err)
	}
}

func TestParseSpec_Options(t *testing.T) {
	data := `version: 1
base_path: /api
realm: corp
cors_preflight: false
clock_skew: 1m30s
strip_credential: true
scopes:
  SEARCH:
    endpoints: [POST /search]
public:
  - GET /status
`
	spec, err := ParseSpec("test.yaml", []byte(data))
	if err != nil {
		t.Fatalf("ParseSpec: %v", err)
	}
	want := core.PolicySpec{
		BasePath:        "/api",
		Realm:           "corp",
		ClockSkew:       90 * time.Second,
		StripCredential: true,
		Endpoints: []core.Endpoint{
			{Method: "POST", Path: "/search", Scope: core.ScopeSearch},
			{Method: "GET", Path: "/status", Public: true},
		},
	}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("spec = %+v, want %+v", spec, want)
	}
}

func TestParseSpec_Defaults(t *testing.T) {
	data := "scopes:\n  SEARCH:\n    endpoints: [POST /search]\nrealm: ~\nclock_skew:\n"
	spec, err := ParseSpec("test.yaml", []byte(data))
	if err != nil {
		t.Fatalf("ParseSpec: %v", err)
	}
	if !spec.AllowCORSPreflight || spec.ClockSkew != 0 || spec.Realm != "" || spec.BasePath != "" {
		t.Errorf("spec = %+v, want preflights allowed and empty options", spec)
	}
	p, err := Parse("test.yaml", []byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if p.Realm() != core.DefaultRealm {
		t.Errorf("realm = %q, want %q", p.Realm(), core.DefaultRealm)
	}
}

func TestParseSpec_Errors(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(validPolicy, old) {
			t.Fatalf("valid policy has no %q", old)
		}
		return strings.Replace(validPolicy, old, new, 1)
	}
	cases := []struct {
		name  string
		data  string
		line  int    // 0 when the error has no line
		value string // the offending value the message must name
	}{
		// yaml/v3 reports a syntax error at the line of its context mark, which can be the
		// line before the offending character.
		{"invalid yaml", replace("      - POST /autocomplete\n", "      - [POST /autocomplete\n"), 6, "did not find expected ',' or ']'"},
		{"tab indentation", replace("  PEOPLE:", "\tPEOPLE:"), 7, "found a tab character"},
		{"unknown top-level field", "realms: corp\n" + validPolicy, 1, `unknown field "realms"`},
		{"unknown scope name", replace("  PEOPLE:", "  DOCUMENTS:"), 8, `"DOCUMENTS"`},
		{"lower-case scope name", replace("  PEOPLE:", "  people:"), 8, `"people"`},
		{"scope listed twice", replace("  PEOPLE:", "  SEARCH:"), 8, "scope SEARCH is listed twice (first on line 3)"},
		{"unknown field in scope entry", replace("    description: Search.", "    summary: Search."), 4, `"summary"`},
		{"field twice in scope entry", replace("    description: Search.", "    endpoints: [POST /feed]"), 5, `field "endpoints" is listed twice`},
		{"description not text", replace("    description: Search.", "    description: [a, b]"), 4, "description"},
		{"scope entry not a mapping", replace("  PEOPLE:\n    endpoints:\n      - GET /people/{person_id}/photo\n", "  PEOPLE: GET /people\n"), 8, "scope entry"},
		{"endpoints not a list", replace("    endpoints:\n      - GET /people/{person_id}/photo\n", "    endpoints: GET /people\n"), 9, "endpoints"},
		{"scopes not a mapping", "scopes: [SEARCH]\n", 1, "scopes"},
		{"duplicate endpoint", replace("      - POST /autocomplete", "      - POST /search"), 7, "endpoint POST /search is listed twice under SEARCH (first on line 6"},
		{"duplicate endpoint with other parameter name", replace("      - GET /people/{person_id}/photo", "      - GET /people/{person_id}/photo\n      - GET /people/{id}/photo"), 11, "GET /people/{id}/photo"},
		{"endpoint under two scopes", replace("      - GET /people/{person_id}/photo", "      - POST /search"), 10, "endpoint POST /search is under two scopes, SEARCH (line 6) and PEOPLE"},
		{"relative path pattern", replace("      - POST /autocomplete", "      - POST autocomplete"), 7, `"autocomplete"`},
		{"trailing slash in pattern", replace("      - POST /autocomplete", "      - POST /autocomplete/"), 7, `"/autocomplete/"`},
		{"dot segment in pattern", replace("      - POST /autocomplete", "      - POST /a/../autocomplete"), 7, `"/a/../autocomplete"`},
		{"unclosed parameter", replace("{person_id}", "{person_id"), 10, `"{person_id"`},
		{"parameter inside a segment", replace("{person_id}", "p{person_id}"), 10, `"p{person_id}"`},
		{"lower-case method", replace("      - POST /autocomplete", "      - post /autocomplete"), 7, `method "post"`},
		{"method without path", replace("      - POST /autocomplete", "      - POST"), 7, `"POST"`},
		{"method glued to path", replace("      - POST /autocomplete", "      - POST/autocomplete"), 7, `"POST/autocomplete"`},
		{"endpoint not a string", replace("      - POST /autocomplete", "      - {POST: /autocomplete}"), 7, "endpoint: want a string"},
		{"anonymous endpoint not under a scope", replace("anonymous:\n  - POST /search\n", "anonymous:\n  - POST /chat\n"), 12, "anonymous endpoint POST /chat is not listed under any scope"},
		{"anonymous endpoint listed twice", validPolicy + "  - POST /search\n", 13, "anonymous endpoint POST /search is listed twice"},
		{"anonymous endpoint malformed", replace("anonymous:\n  - POST /search\n", "anonymous:\n  - POST search\n"), 12, `"search"`},
		{"public endpoint under a scope", validPolicy + "public:\n  - POST /autocomplete\n", 14, "public endpoint POST /autocomplete is also under scope SEARCH (line 7)"},
		{"public endpoint listed twice", validPolicy + "public:\n  - GET /status\n  - GET /status\n", 15, "public endpoint GET /status is listed twice (first on line 14)"},
		{"negative clock skew", "clock_skew: -5s\n" + validPolicy, 1, `clock_skew "-5s"`},
		{"clock skew without unit", "clock_skew: 30\n" + validPolicy, 1, `clock_skew "30"`},
		{"clock skew not a duration", "clock_skew: soon\n" + validPolicy, 1, `clock_skew "soon"`},
		{"clock skew as a list", "clock_skew: [1s]\n" + validPolicy, 1, "clock_skew: want a single value"},
		{"unsupported version", replace("version: 1", "version: 2"), 1, "version 2 is not supported"},
		{"version zero", replace("version: 1", "version: 0"), 1, "version 0 is not supported"},
		{"invalid base path", "base_path: /rest/\n" + validPolicy, 1, `base path "/rest/"`},
		{"root base path", "base_path: /\n" + validPolicy, 1, `base path "/"`},
		{"realm with quote", "realm: 'a\"b'\n" + validPolicy, 1, `realm "a\"b"`},
		{"cors preflight not a bool", "cors_preflight: sometimes\n" + validPolicy, 1, "sometimes"},
		{"second document", validPolicy + "---\nscopes: {}\n", 13, "a second YAML document"},
		{"missing scopes", "version: 1\n", 0, "missing scopes"},
		{"empty file", "", 0, "the policy file is empty"},
		{"comments only", "# nothing here\n", 0, "the policy file is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec, err := ParseSpec("test.yaml", []byte(c.data))
			if err == nil {
				t.Fatalf("ParseSpec succeeded with %d endpoints, want an error naming %q", len(spec.Endpoints), c.value)
			}
			if len(spec.Endpoints) != 0 || !reflect.DeepEqual(spec, core.PolicySpec{}) {
				t.Errorf("ParseSpec returned a non-empty spec with the error: %+v", spec)
			}
			prefix := "test.yaml: "
			if c.line > 0 {
				prefix = "test.yaml:" + itoa(c.line) + ": "
			}
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
			if !strings.Contains(err.Error(), c.value) {
				t.Errorf("error %q does not name %q", err, c.value)
			}
			if p, err := Parse("test.yaml", []byte(c.data)); err == nil || p != nil {
				t.Errorf("Parse = %v, %v, want no policy and an error", p, err)
			}
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// FuzzParseSpec parses random policy files. An accepted file must compile, give the same spec
// when parsed again, survive the spec's JSON round trip, and match each of its endpoints.
func FuzzParseSpec(f *testing.F) {
	scopes, err := os.ReadFile(scopesPath)
	if err != nil {
		f.Fatalf("read %s: %v", scopesPath, err)
	}
	for _, seed := range []string{
		string(scopes),
		validPolicy,
		validPolicy + "public:\n  - GET /status\n",
		"clock_skew: 30s\nbase_path: /api\nrealm: x\n" + validPolicy,
		validPolicy + "---\nscopes: {}\n",
		"scopes:\n  SEARCH:\n    endpoints: [POST /a]\n  SEARCH:\n    endpoints: [POST /b]\n",
		"a: &x [*x]\n",
		"scopes: &s {SEARCH: {endpoints: [POST /a]}}\nanonymous: [POST /a]\n",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		spec, err := ParseSpec("fuzz.yaml", []byte(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		again, err := ParseSpec("fuzz.yaml", []byte(data))
		if err != nil || !reflect.DeepEqual(again, spec) {
			t.Fatalf("second parse gave %+v, %v; first %+v", again, err, spec)
		}
		p, err := core.NewPolicy(spec)
		if err != nil {
			t.Fatalf("accepted spec does not compile: %v\n%+v", err, spec)
		}
		encoded, err := json.Marshal(spec)
		if err != nil {
			t.Fatalf("marshal spec: %v", err)
		}
		var decoded core.PolicySpec
		if err := json.Unmarshal(encoded, &decoded); err != nil {
			t.Fatalf("unmarshal spec %s: %v", encoded, err)
		}
		if len(decoded.Endpoints) == 0 && len(spec.Endpoints) == 0 {
			decoded.Endpoints = spec.Endpoints // JSON writes no endpoints as [], not null
		}
		if !reflect.DeepEqual(decoded, spec) {
			t.Fatalf("JSON round trip gave %+v, %v; want %+v", decoded, err, spec)
		}
		base := p.Spec().BasePath
		for _, e := range spec.Endpoints {
			concrete := concretePath(e.Path)
			got, ok := p.Match(e.Method, base+concrete)
			if !ok || got != e {
				t.Fatalf("Match(%s %s) = %+v, %v; want %+v", e.Method, base+concrete, got, ok, e)
			}
		}
	})
}

// concretePath fills every "{name}" segment of a pattern with a value.
func concretePath(pattern string) string {
	segments := strings.Split(pattern, "/")
	for i, s := range segments {
		if strings.HasPrefix(s, "{") {
			segments[i] = "v1"
		}
	}
	return strings.Join(segments, "/")
}
