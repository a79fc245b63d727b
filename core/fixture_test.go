package core

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// defaultEndpoints mirrors the endpoint lists of the project's scopes.yaml, built in Go because
// core must not import the YAML loader. TestDefaultSpec_MatchesFixture ties this table to
// testdata/default-policy.json, and a host/conformance test ties that file to scopes.yaml.
var defaultEndpoints = map[Scope][]string{
	ScopeActivity:      {"POST /activity"},
	ScopeAnnouncements: {"POST /createannouncement", "POST /deleteannouncement", "POST /updateannouncement"},
	ScopeChat: {
		"GET /chat-files/{fileId}", "POST /chat", "POST /deleteallchats", "POST /deletechatfiles",
		"POST /deletechats", "POST /getchat", "POST /getchatapplication", "POST /getchatfiles",
		"POST /listchats", "POST /uploadchatfiles",
	},
	ScopeAnswers: {"POST /createanswer", "POST /deleteanswer", "POST /editanswer", "POST /getanswer", "POST /listanswers"},
	ScopeCollections: {
		"POST /addcollectionitems", "POST /createcollection", "POST /deletecollection",
		"POST /deletecollectionitem", "POST /editcollection", "POST /editcollectionitem",
		"POST /getcollection", "POST /listcollections",
	},
	ScopeEntities:     {"POST /listentities"},
	ScopeFeedback:     {"POST /feedback"},
	ScopeInsights:     {"POST /insights"},
	ScopePeople:       {"GET /people/{person_id}/photo", "POST /people"},
	ScopePins:         {"POST /editpin", "POST /getpin", "POST /listpins", "POST /pin", "POST /unpin"},
	ScopeSearch:       {"POST /adminsearch", "POST /autocomplete", "POST /feed", "POST /recommendations", "POST /search"},
	ScopeShortcuts:    {"POST /createshortcut", "POST /deleteshortcut", "POST /getshortcut", "POST /listshortcuts", "POST /updateshortcut"},
	ScopeSummarize:    {"POST /summarize"},
	ScopeVerification: {"POST /addverificationreminder", "POST /listverifications", "POST /verify"},
}

// defaultAnonymous lists the endpoints that ANONYMOUS tokens may call under the default policy.
var defaultAnonymous = []string{"POST /search", "POST /autocomplete"}

// defaultSpec returns the default policy as a spec: every endpoint of defaultEndpoints in
// scope order, then sorted by method and path, with the two anonymous endpoints marked.
func defaultSpec() PolicySpec {
	spec := PolicySpec{
		BasePath:           DefaultBasePath,
		Realm:              DefaultRealm,
		AllowCORSPreflight: true,
	}
	for _, scope := range AllScopes() {
		for _, entry := range defaultEndpoints[scope] {
			method, path, _ := strings.Cut(entry, " ")
			e := Endpoint{Method: method, Path: path, Scope: scope}
			for _, anon := range defaultAnonymous {
				if anon == entry {
					e.Anonymous = true
				}
			}
			spec.Endpoints = append(spec.Endpoints, e)
		}
	}
	return spec
}

// newDefaultPolicy compiles defaultSpec, failing the test on error.
func newDefaultPolicy(tb testing.TB) *Policy {
	tb.Helper()
	p, err := NewPolicy(defaultSpec())
	if err != nil {
		tb.Fatalf("NewPolicy(defaultSpec()): %v", err)
	}
	return p
}

// fixtureNow is the instant most tests decide at.
var fixtureNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// fixtureToken is a token record of the test store together with its secret.
type fixtureToken struct {
	secret string
	token  Token
}

// mintFixtureSecret returns a well-formed token minted from a ChaCha8 stream keyed by seed, so
// every run gets the same secrets.
func mintFixtureSecret(tb testing.TB, seed byte) string {
	tb.Helper()
	var key [32]byte
	key[0] = seed
	s, err := MintToken(rand.NewChaCha8(key))
	if err != nil {
		tb.Fatalf("MintToken: %v", err)
	}
	return s
}

// Ids of the fixture tokens.
const (
	idUser           = "tok_user"
	idUserNever      = "tok_user_never"
	idGlobal         = "tok_global"
	idGlobalDomain   = "tok_global_dom"
	idAnon           = "tok_anon"
	idAnonChat       = "tok_anon_chat"
	idExpired        = "tok_expired"
	idRevoked        = "tok_revoked"
	idRevokedFuture  = "tok_revoked_future"
	idRevokedExpired = "tok_revoked_expired"
	idLegacy         = "tok_legacy"
	idEdge           = "tok_edge"
)

// Instants of the tok_edge token, which expires and is revoked at fixed points around
// fixtureNow.
var (
	edgeExpiresAt = fixtureNow.Add(time.Hour)
	edgeRevokedAt = fixtureNow.Add(2 * time.Hour)
)

// legacySecret is a token imported from another system: no prefix, looked up as it is.
const legacySecret = "legacy-9f8e7d6c5b4a"

// fixtureTokens returns the token records of the test store, keyed by id.
func fixtureTokens(tb testing.TB) map[string]fixtureToken {
	tb.Helper()
	expires := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	records := []Token{
		{ID: idUser, Permission: PermissionUser, User: "ann@example.com", Scopes: NewScopeSet(ScopeSearch, ScopeAnswers, ScopeCollections), ExpiresAt: expires},
		{ID: idUserNever, Permission: PermissionUser, User: "bob@example.com", Scopes: NewScopeSet(ScopeChat)},
		{ID: idGlobal, Permission: PermissionGlobal, Scopes: NewScopeSet(ScopeSearch, ScopeChat, ScopePeople), ExpiresAt: expires},
		{ID: idGlobalDomain, Permission: PermissionGlobal, Scopes: NewScopeSet(ScopeSearch), ActAsDomains: []string{"example.com", "example.org"}, ExpiresAt: expires},
		{ID: idAnon, Permission: PermissionAnonymous, Scopes: NewScopeSet(ScopeSearch, ScopeChat), ExpiresAt: expires},
		{ID: idAnonChat, Permission: PermissionAnonymous, Scopes: NewScopeSet(ScopeChat)},
		{ID: idExpired, Permission: PermissionUser, User: "eve@example.com", Scopes: NewScopeSet(ScopeSearch), ExpiresAt: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)},
		{ID: idRevoked, Permission: PermissionUser, User: "rob@example.com", Scopes: NewScopeSet(ScopeSearch), RevokedAt: time.Date(2026, 5, 15, 0, 0, 0, 0, time.UTC)},
		{ID: idRevokedFuture, Permission: PermissionUser, User: "fay@example.com", Scopes: NewScopeSet(ScopeSearch), RevokedAt: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)},
		{ID: idRevokedExpired, Permission: PermissionUser, User: "ray@example.com", Scopes: NewScopeSet(ScopeSearch), ExpiresAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), RevokedAt: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)},
		{ID: idEdge, Permission: PermissionUser, User: "ed@example.com", Scopes: NewScopeSet(ScopeSearch), ExpiresAt: edgeExpiresAt, RevokedAt: edgeRevokedAt},
	}
	out := make(map[string]fixtureToken, len(records)+1)
	for i, t := range records {
		secret := mintFixtureSecret(tb, byte(i+1))
		t.Digest = Digest(secret)
		out[t.ID] = fixtureToken{secret: secret, token: t}
	}
	legacy := Token{ID: idLegacy, Permission: PermissionUser, User: "lee@example.com", Scopes: NewScopeSet(ScopePins, ScopeSearch), Digest: Digest(legacySecret)}
	out[idLegacy] = fixtureToken{secret: legacySecret, token: legacy}
	return out
}

// fixture is a validator over the default policy and the fixture tokens.
type fixture struct {
	validator *Validator
	tokens    map[string]fixtureToken
}

// newFixture builds the validator of spec (the default policy when spec is nil) and the
// fixture tokens.
func newFixture(tb testing.TB, spec *PolicySpec) *fixture {
	tb.Helper()
	s := defaultSpec()
	if spec != nil {
		s = *spec
	}
	policy, err := NewPolicy(s)
	if err != nil {
		tb.Fatalf("NewPolicy: %v", err)
	}
	tokens := fixtureTokens(tb)
	ids := make([]string, 0, len(tokens))
	for id := range tokens {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	records := make([]Token, 0, len(ids))
	for _, id := range ids {
		records = append(records, tokens[id].token)
	}
	store, err := NewStore(records)
	if err != nil {
		tb.Fatalf("NewStore: %v", err)
	}
	return &fixture{validator: NewValidator(policy, store), tokens: tokens}
}

// bearer returns the Authorization field that sends the token with the given id.
func (f *fixture) bearer(tb testing.TB, id string) Header {
	tb.Helper()
	t, ok := f.tokens[id]
	if !ok {
		tb.Fatalf("no fixture token %q", id)
	}
	return Header{HeaderAuthorization, "Bearer " + t.secret}
}

// api returns the full request path of an endpoint path below the default base path.
func api(path string) string { return DefaultBasePath + path }

// expectation lists the decision fields a case checks; empty strings are checked too.
type expectation struct {
	reason     Reason
	tokenID    string
	permission Permission
	principal  string
	scope      Scope
}

// checkDecision compares d with want, and checks that Status, Allow and Error follow from the
// reason, as the decision model's table defines them.
func checkDecision(t *testing.T, d Decision, want expectation) {
	t.Helper()
	if d.Reason != want.reason {
		t.Errorf("reason = %s, want %s", d.Reason, want.reason)
	}
	if d.Status != want.reason.Status() {
		t.Errorf("status = %d, want %d", d.Status, want.reason.Status())
	}
	if d.Allow != (want.reason.Status() == 200) {
		t.Errorf("allow = %v, want %v", d.Allow, want.reason.Status() == 200)
	}
	if d.Error != want.reason.ErrorCode() {
		t.Errorf("error = %q, want %q", d.Error, want.reason.ErrorCode())
	}
	if d.TokenID != want.tokenID {
		t.Errorf("token id = %q, want %q", d.TokenID, want.tokenID)
	}
	if d.Permission != want.permission {
		t.Errorf("permission = %q, want %q", d.Permission, want.permission)
	}
	if d.Principal != want.principal {
		t.Errorf("principal = %q, want %q", d.Principal, want.principal)
	}
	if d.Scope != want.scope {
		t.Errorf("scope = %q, want %q", d.Scope, want.scope)
	}
}

// conformanceFile is the part of tests/testdata/cases.json that core tests read. Core reads
// it with encoding/json only; host/conformance runs the file against the engines.
type conformanceFile struct {
	Now    time.Time                    `json:"now"`
	Tokens []map[string]json.RawMessage `json:"tokens"`
	Cases  []conformanceCase            `json:"cases"`
}

type conformanceCase struct {
	Name    string         `json:"name"`
	Method  string         `json:"method"`
	Path    string         `json:"path"`
	Headers []Header       `json:"headers"`
	Now     *time.Time     `json:"now"`
	Expect  map[string]any `json:"expect"`
}

// conformancePath is the project's conformance file, relative to this package.
const conformancePath = "../tests/testdata/cases.json"

// readConformance reads the conformance file and returns it with its store, whose digests are
// computed from the secrets.
func readConformance(tb testing.TB) (*conformanceFile, *Store) {
	tb.Helper()
	data, err := os.ReadFile(conformancePath)
	if err != nil {
		tb.Fatalf("read conformance file: %v", err)
	}
	var f conformanceFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		tb.Fatalf("%s: %v", conformancePath, err)
	}

	tokens := make([]Token, 0, len(f.Tokens))
	for i, fields := range f.Tokens {
		var secret string
		if err := json.Unmarshal(fields["secret"], &secret); err != nil {
			tb.Fatalf("%s: token %d: secret: %v", conformancePath, i, err)
		}
		delete(fields, "secret")
		fields["digest"], _ = json.Marshal(Digest(secret))
		record, err := json.Marshal(fields)
		if err != nil {
			tb.Fatalf("%s: token %d: %v", conformancePath, i, err)
		}
		var tok Token
		if err := json.Unmarshal(record, &tok); err != nil {
			tb.Fatalf("%s: token %d: %v", conformancePath, i, err)
		}
		tokens = append(tokens, tok)
	}

	store, err := NewStore(tokens)
	if err != nil {
		tb.Fatalf("%s: %v", conformancePath, err)
	}
	return &f, store
}
