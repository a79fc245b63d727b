package core

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Digests of two secrets, for store files written by hand.
var (
	digestA = Digest("secret-a")
	digestB = Digest("secret-b")
)

// storeJSON returns a store file with the given token objects, each written without braces.
func storeJSON(tokens ...string) string {
	objects := make([]string, len(tokens))
	for i, t := range tokens {
		objects[i] = "{" + t + "}"
	}
	return `{"tokens": [` + strings.Join(objects, ", ") + `]}`
}

// userToken returns the fields of a valid USER token with id and digest, then extra fields.
func userToken(id, digest string, extra ...string) string {
	fields := append([]string{`"id": "` + id + `"`, `"digest": "` + digest + `"`,
		`"permission": "USER"`, `"user": "ann@example.com"`, `"scopes": ["SEARCH"]`}, extra...)
	return strings.Join(fields, ", ")
}

func TestParseStore_Valid(t *testing.T) {
	data := `{"version": 1, "tokens": [
		{"id": "tok_a", "digest": "` + digestA + `", "description": "ci bot", "permission": "GLOBAL",
		 "scopes": ["SEARCH", "CHAT"], "actas_domains": ["example.com"],
		 "expires_at": "2027-01-01T00:00:00Z", "created_at": "2026-01-01T09:30:00+01:00", "created_by": "admin@example.com"},
		{"id": "tok_b", "digest": "` + digestB + `", "permission": "ANONYMOUS", "scopes": ["SEARCH"],
		 "revoked_at": "2026-05-01T00:00:00.5Z"}
	]}`
	s, err := ParseStore([]byte(data))
	if err != nil {
		t.Fatalf("ParseStore: %v", err)
	}
	if s.Len() != 2 {
		t.Fatalf("Len = %d, want 2", s.Len())
	}
	a, ok := s.ByID("tok_a")
	if !ok {
		t.Fatalf("ByID(tok_a) not found")
	}
	want := Token{
		ID: "tok_a", Digest: digestA, Description: "ci bot", Permission: PermissionGlobal,
		Scopes: NewScopeSet(ScopeSearch, ScopeChat), ActAsDomains: []string{"example.com"},
		ExpiresAt: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		CreatedAt: time.Date(2026, 1, 1, 8, 30, 0, 0, time.UTC), CreatedBy: "admin@example.com",
	}
	if !tokensEqual(a, want) {
		t.Errorf("tok_a = %+v, want %+v", a, want)
	}
	if got := s.lookup("secret-b"); got == nil || got.ID != "tok_b" {
		t.Errorf("lookup(secret-b) = %v, want tok_b", got)
	}
	if got := s.lookup("secret-c"); got != nil {
		t.Errorf("lookup(secret-c) = %v, want nil", got)
	}
	if _, ok := s.ByID("tok_c"); ok {
		t.Errorf("ByID(tok_c) found a token, want none")
	}
}

func TestParseStore_VersionAbsentMeansOne(t *testing.T) {
	s, err := ParseStore([]byte(storeJSON(userToken("tok_a", digestA))))
	if err != nil {
		t.Fatalf("ParseStore: %v", err)
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d, want 1", s.Len())
	}
}

func TestParseStore_RoundTrip(t *testing.T) {
	f := newFixture(t, nil)
	data, err := json.Marshal(f.validator.Store())
	if err != nil {
		t.Fatalf("marshal store: %v", err)
	}
	if !strings.Contains(string(data), `"version":1`) {
		t.Errorf("store file %s has no version 1", data)
	}
	for _, tok := range f.tokens {
		if strings.Contains(string(data), tok.secret) {
			t.Errorf("store file contains the secret of %s", tok.token.ID)
		}
	}
	s, err := ParseStore(data)
	if err != nil {
		t.Fatalf("ParseStore(marshalled store): %v", err)
	}
	got, want := s.Tokens(), f.validator.Store().Tokens()
	if len(got) != len(want) {
		t.Fatalf("round trip has %d tokens, want %d", len(got), len(want))
	}
	for i := range want {
		if !tokensEqual(got[i], want[i]) {
			t.Errorf("token %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseStore_Errors(t *testing.T) {
	cases := []struct {
		name string
		data string
		want string // a part of the error message that names the value
	}{
		{"empty input", ``, "EOF"},
		{"not json", `tokens: []`, "invalid character"},
		{"trailing data", storeJSON() + `{}`, "unexpected data after the JSON value"},
		{"unknown top-level field", `{"tokens": [], "owner": "x"}`, `unknown field "owner"`},
		{"null", `null`, `missing "tokens" array`},
		{"empty object", `{}`, `missing "tokens" array`},
		{"version only", `{"version": 1}`, `missing "tokens" array`},
		{"null tokens", `{"version": 1, "tokens": null}`, `missing "tokens" array`},
		{"unknown token field", storeJSON(userToken("tok_a", digestA, `"secret": "glean_x"`)), `unknown field "secret"`},
		{"newer version", `{"version": 2, "tokens": []}`, "format version 2 is newer than 1"},
		{"negative version", `{"version": -1, "tokens": []}`, "invalid format version -1"},
		{"duplicate id", storeJSON(userToken("tok_a", digestA), userToken("tok_a", digestB)), `duplicate id "tok_a"`},
		{"duplicate digest", storeJSON(userToken("tok_a", digestA), userToken("tok_b", digestA)), "token tok_b: duplicate digest"},
		{"missing id", storeJSON(`"digest": "` + digestA + `", "permission": "USER", "user": "a@b.c", "scopes": ["SEARCH"]`), "token has no id"},
		{"missing digest", storeJSON(`"id": "tok_a", "permission": "USER", "user": "a@b.c", "scopes": ["SEARCH"]`), `digest ""`},
		{"upper-case digest", storeJSON(userToken("tok_a", strings.ToUpper(digestA))), strings.ToUpper(digestA)},
		{"short digest", storeJSON(userToken("tok_a", digestA[:63])), digestA[:63]},
		{"non-hex digest", storeJSON(userToken("tok_a", "g"+digestA[1:])), "g" + digestA[1:]},
		{"missing permission", storeJSON(`"id": "tok_a", "digest": "` + digestA + `", "scopes": ["SEARCH"]`), "token tok_a: missing or invalid permission"},
		{"unknown permission", storeJSON(`"id": "tok_a", "digest": "` + digestA + `", "permission": "ADMIN", "scopes": ["SEARCH"]`), `invalid permission "ADMIN"`},
		{"lower-case permission", storeJSON(`"id": "tok_a", "digest": "` + digestA + `", "permission": "user", "scopes": ["SEARCH"]`), `invalid permission "user"`},
		{"user without user", storeJSON(`"id": "tok_a", "digest": "` + digestA + `", "permission": "USER", "scopes": ["SEARCH"]`), `token tok_a: USER token needs a user email, got ""`},
		{"user with invalid user", storeJSON(userToken("tok_a", digestA, `"user": "Ann <ann@example.com>"`)), `got "Ann <ann@example.com>"`},
		{"global with user", storeJSON(`"id": "tok_a", "digest": "` + digestA + `", "permission": "GLOBAL", "user": "a@b.c", "scopes": ["SEARCH"]`), "token tok_a: only USER tokens have a user, this one is GLOBAL"},
		{"anonymous with user", storeJSON(`"id": "tok_a", "digest": "` + digestA + `", "permission": "ANONYMOUS", "user": "a@b.c", "scopes": ["SEARCH"]`), "this one is ANONYMOUS"},
		{"actas domains on user", storeJSON(userToken("tok_a", digestA, `"actas_domains": ["example.com"]`)), "token tok_a: actas_domains is for GLOBAL tokens only, this one is USER"},
		{"actas domains on anonymous", storeJSON(`"id": "tok_a", "digest": "` + digestA + `", "permission": "ANONYMOUS", "scopes": ["SEARCH"], "actas_domains": ["example.com"]`), "this one is ANONYMOUS"},
		{"upper-case actas domain", storeJSON(`"id": "tok_a", "digest": "` + digestA + `", "permission": "GLOBAL", "scopes": ["SEARCH"], "actas_domains": ["Example.com"]`), `actas domain "Example.com"`},
		{"invalid actas domain", storeJSON(`"id": "tok_a", "digest": "` + digestA + `", "permission": "GLOBAL", "scopes": ["SEARCH"], "actas_domains": ["localhost"]`), `actas domain "localhost"`},
		{"empty scopes", storeJSON(userToken("tok_a", digestA, `"scopes": []`)), "no scopes given"},
		{"null scopes", storeJSON(userToken("tok_a", digestA, `"scopes": null`)), "no scopes given"},
		{"missing scopes", storeJSON(`"id": "tok_a", "digest": "` + digestA + `", "permission": "USER", "user": "a@b.c"`), "token tok_a: no scopes"},
		{"unknown scope", storeJSON(userToken("tok_a", digestA, `"scopes": ["SEARCH", "DOCUMENTS"]`)), `unknown scope "DOCUMENTS"`},
		{"lower-case scope", storeJSON(userToken("tok_a", digestA, `"scopes": ["search"]`)), `unknown scope "search"`},
		{"duplicate scope", storeJSON(userToken("tok_a", digestA, `"scopes": ["SEARCH", "SEARCH"]`)), "scope SEARCH is listed twice"},
		{"scopes not a list", storeJSON(userToken("tok_a", digestA, `"scopes": "SEARCH"`)), "want a list of scope names"},
		{"invalid expiry", storeJSON(userToken("tok_a", digestA, `"expires_at": "tomorrow"`)), `"tomorrow"`},
		{"expiry without zone", storeJSON(userToken("tok_a", digestA, `"expires_at": "2027-01-01T00:00:00"`)), `"2027-01-01T00:00:00"`},
		{"zero expiry", storeJSON(userToken("tok_a", digestA, `"expires_at": "0001-01-01T00:00:00Z"`)), "expires_at 0001-01-01T00:00:00Z is the zero instant"},
		{"zero revocation", storeJSON(userToken("tok_a", digestA, `"revoked_at": "0001-01-01T00:00:00Z"`)), "revoked_at 0001-01-01T00:00:00Z is the zero instant"},
		{"zero revocation with offset", storeJSON(userToken("tok_a", digestA, `"revoked_at": "0001-01-01T01:00:00+01:00"`)), "revoked_at 0001-01-01T00:00:00Z is the zero instant"},
		{"zero creation", storeJSON(userToken("tok_a", digestA, `"created_at": "0001-01-01T00:00:00Z"`)), "created_at 0001-01-01T00:00:00Z is the zero instant"},
		{"expiry beyond year 9999 in UTC", storeJSON(userToken("tok_a", digestA, `"expires_at": "9999-12-31T23:00:00-02:00"`)), "expires_at 10000-01-01T01:00:00Z is outside the years 0 to 9999"},
		{"revocation before year 0 in UTC", storeJSON(userToken("tok_a", digestA, `"revoked_at": "0000-01-01T00:00:00+01:00"`)), "revoked_at -0001-12-31T23:00:00Z is outside the years 0 to 9999"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := ParseStore([]byte(c.data))
			if err == nil {
				t.Fatalf("ParseStore succeeded with %d tokens, want an error containing %q", s.Len(), c.want)
			}
			if s != nil {
				t.Errorf("ParseStore returned a store with the error")
			}
			if !strings.HasPrefix(err.Error(), "store: ") {
				t.Errorf("error %q does not start with %q", err, "store: ")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestNewStore_CopiesTokens(t *testing.T) {
	tokens := []Token{{ID: "tok_a", Digest: digestA, Permission: PermissionAnonymous, Scopes: NewScopeSet(ScopeSearch)}}
	s, err := NewStore(tokens)
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	tokens[0].Scopes = NewScopeSet(ScopeChat)
	if got := s.lookup("secret-a"); got == nil || !got.Scopes.Has(ScopeSearch) {
		t.Errorf("store changed when the caller's slice changed: %+v", got)
	}
	out := s.Tokens()
	out[0].ID = "changed"
	if _, ok := s.ByID("tok_a"); !ok {
		t.Errorf("store changed when the slice from Tokens changed")
	}
}

func TestToken_Status(t *testing.T) {
	tok := Token{ExpiresAt: fixtureNow, RevokedAt: fixtureNow.Add(time.Hour)}
	cases := []struct {
		now  time.Time
		want string
	}{
		{fixtureNow.Add(-time.Second), "active"},
		{fixtureNow, "expired"},
		{fixtureNow.Add(time.Hour), "revoked"},
	}
	for _, c := range cases {
		if got := tok.Status(c.now); got != c.want {
			t.Errorf("Status(%s) = %q, want %q", c.now.Format(time.RFC3339), got, c.want)
		}
	}
	if got := (&Token{}).Status(fixtureNow); got != "active" {
		t.Errorf("Status of a token without instants = %q, want active", got)
	}
}

// tokensEqual compares two token records, with instants compared by time.Time.Equal.
func tokensEqual(a, b Token) bool {
	for _, pair := range [][2]time.Time{{a.ExpiresAt, b.ExpiresAt}, {a.RevokedAt, b.RevokedAt}, {a.CreatedAt, b.CreatedAt}} {
		if !pair[0].Equal(pair[1]) {
			return false
		}
	}
	a.ExpiresAt, a.RevokedAt, a.CreatedAt = time.Time{}, time.Time{}, time.Time{}
	b.ExpiresAt, b.RevokedAt, b.CreatedAt = time.Time{}, time.Time{}, time.Time{}
	if len(a.ActAsDomains) == 0 && len(b.ActAsDomains) == 0 {
		a.ActAsDomains, b.ActAsDomains = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

func TestParseStore_EmptyArrayIsEmptyStore(t *testing.T) {
	for _, data := range []string{`{"tokens": []}`, `{"version": 1, "tokens": []}`} {
		s, err := ParseStore([]byte(data))
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if s.Len() != 0 {
			t.Errorf("%s: Len = %d, want 0", data, s.Len())
		}
	}
}
