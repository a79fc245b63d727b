package tests

import (
	"encoding/csv"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/policyfile"
)

// endpointRow is one Client API endpoint of testdata/glean-client-api.tsv.
type endpointRow struct {
	line   int
	tag    string
	method string
	path   string
}

func (r endpointRow) String() string { return r.method + " " + r.path }

// Tags that no scope covers: the default policy leaves their endpoints unmapped.
var unmappedTags = []string{"Agents", "Authentication", "Documents", "Messages", "Tools"}

// splitTags maps each endpoint of a tag whose endpoints fall under several scopes to its
// scope. Every other covered tag maps to the scope of the same name.
var splitTags = map[string]map[string]core.Scope{
	"Activity": {
		"POST /activity": core.ScopeActivity,
		"POST /feedback": core.ScopeFeedback,
	},
	"Entities": {
		"POST /listentities":            core.ScopeEntities,
		"POST /people":                  core.ScopePeople,
		"GET /people/{person_id}/photo": core.ScopePeople,
	},
}

// readEndpointTable reads the endpoint table and checks its header row.
func readEndpointTable(t *testing.T) []endpointRow {
	t.Helper()
	const path = "testdata/glean-client-api.tsv"
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open endpoint table: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = '\t'
	r.LazyQuotes = true
	records, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(records) < 2 {
		t.Fatalf("%s has %d rows, want a header and endpoints", path, len(records))
	}
	want := []string{"tag", "method", "path", "visibility", "actas_param", "operation_id"}
	if !slices.Equal(records[0], want) {
		t.Fatalf("%s header %q, want %q", path, records[0], want)
	}
	rows := make([]endpointRow, 0, len(records)-1)
	for i, rec := range records[1:] {
		rows = append(rows, endpointRow{line: i + 2, tag: rec[0], method: rec[1], path: rec[2]})
	}
	return rows
}

// expectedScope returns the scope the decision model names for a row, or 0 for a row that
// stays unmapped. It fails the test for a tag the model does not mention.
func expectedScope(t *testing.T, row endpointRow) core.Scope {
	t.Helper()
	if slices.Contains(unmappedTags, row.tag) {
		return 0
	}
	if split, ok := splitTags[row.tag]; ok {
		scope, ok := split[row.String()]
		if !ok {
			t.Errorf("line %d: %s endpoint %s has no scope in the decision model", row.line, row.tag, row)
		}
		return scope
	}
	scope, err := core.ParseScope(strings.ToUpper(row.tag))
	if err != nil {
		t.Errorf("line %d: tag %q is neither a scope name nor listed as unmapped: decide where %s belongs", row.line, row.tag, row)
		return 0
	}
	return scope
}

// loadDefaultPolicy compiles the project's scopes.yaml.
func loadDefaultPolicy(t *testing.T) *core.Policy {
	t.Helper()
	p, err := policyfile.Load("../scopes.yaml")
	if err != nil {
		t.Fatalf("load scopes.yaml: %v", err)
	}
	return p
}

// concreteRequestPath returns a request path for an endpoint pattern, with each "{name}"
// segment filled in.
func concreteRequestPath(base, pattern string) string {
	segments := strings.Split(pattern, "/")
	for i, s := range segments {
		if strings.HasPrefix(s, "{") {
			segments[i] = "x1"
		}
	}
	return base + strings.Join(segments, "/")
}

func TestDefaultPolicy_EveryEndpointMapped(t *testing.T) {
	rows := readEndpointTable(t)
	policy := loadDefaultPolicy(t)
	spec := policy.Spec()
	byKey := map[string]core.Endpoint{}
	for _, e := range spec.Endpoints {
		byKey[e.String()] = e
	}
	seen := map[string]int{}
	for _, row := range rows {
		if first, dup := seen[row.String()]; dup {
			t.Errorf("line %d: %s is also on line %d", row.line, row, first)
		}
		seen[row.String()] = row.line
		want := expectedScope(t, row)
		e, listed := byKey[row.String()]
		matched, matches := policy.Match(row.method, concreteRequestPath(spec.BasePath, row.path))
		if want == 0 {
			if listed {
				t.Errorf("line %d: %s (%s) is mapped to %s, want it unmapped", row.line, row, row.tag, e.Scope)
			}
			if matches {
				t.Errorf("line %d: a request to %s matches %s, want no endpoint", row.line, row, matched)
			}
			continue
		}
		if !listed {
			t.Errorf("line %d: %s (%s) is not in scopes.yaml, want it under %s", row.line, row, row.tag, want)
			continue
		}
		if e.Scope != want {
			t.Errorf("line %d: %s is under %s, want %s", row.line, row, e.Scope, want)
		}
		if !matches || matched != e {
			t.Errorf("line %d: a request to %s matches %+v (%v), want %+v", row.line, row, matched, matches, e)
		}
	}
}

func TestDefaultPolicy_MapsOnlyTableEndpoints(t *testing.T) {
	rows := readEndpointTable(t)
	table := map[string]bool{}
	for _, row := range rows {
		table[row.String()] = true
	}
	spec := loadDefaultPolicy(t).Spec()
	scopes := map[core.Scope]int{}
	for _, e := range spec.Endpoints {
		if !table[e.String()] {
			t.Errorf("scopes.yaml maps %s, which is not a Client API endpoint of the table", e)
		}
		if e.Public {
			t.Errorf("scopes.yaml makes %s public, want no public endpoint", e)
		}
		scopes[e.Scope]++
	}
	for _, s := range core.AllScopes() {
		if scopes[s] == 0 {
			t.Errorf("scope %s opens no endpoint", s)
		}
	}
}

func TestDefaultPolicy_AnonymousEndpoints(t *testing.T) {
	var anonymous []string
	for _, e := range loadDefaultPolicy(t).Spec().Endpoints {
		if e.Anonymous {
			anonymous = append(anonymous, e.String())
		}
	}
	slices.Sort(anonymous)
	if want := []string{"POST /autocomplete", "POST /search"}; !slices.Equal(anonymous, want) {
		t.Errorf("anonymous endpoints %q, want exactly %q", anonymous, want)
	}
}

func TestDefaultPolicy_Options(t *testing.T) {
	p := loadDefaultPolicy(t)
	spec := p.Spec()
	if spec.BasePath != "/rest/api/v1" {
		t.Errorf("base path %q, want /rest/api/v1", spec.BasePath)
	}
	if p.Realm() != "glean" {
		t.Errorf("realm %q, want glean", p.Realm())
	}
	if !spec.AllowCORSPreflight {
		t.Errorf("CORS preflights are not allowed, want allowed")
	}
	if spec.ClockSkew != 0 {
		t.Errorf("clock skew %s, want none", spec.ClockSkew)
	}
}
