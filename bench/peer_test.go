package bench

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
)

// policyPath is scopes.yaml as seen from the package folder, where go test runs.
const policyPath = "../scopes.yaml"

var (
	smallFixtureOnce sync.Once
	smallFixture     *Fixture
	smallFixtureErr  error
)

// newSmallFixture returns the shared fixture with 10 generated tokens.
func newSmallFixture(tb testing.TB) *Fixture {
	tb.Helper()
	smallFixtureOnce.Do(func() { smallFixture, smallFixtureErr = NewFixture(policyPath, 10) })
	if smallFixtureErr != nil {
		tb.Fatal(smallFixtureErr)
	}
	return smallFixture
}

// peerCase is a request that the peers and the native core must decide alike.
type peerCase struct {
	name string
	req  core.Request
	now  time.Time
}

// peerCases covers the allow path and one denial per rule that opa.rego implements.
func peerCases(f *Fixture) []peerCase {
	user := f.Secret
	global := Secret(1)
	anonymous := Secret(3)
	withHeaders := func(method, path string, headers ...core.Header) core.Request {
		return core.Request{Method: method, Path: path, Headers: headers}
	}
	bearer := func(secret string) core.Header { return core.Header{Name: "Authorization", Value: "Bearer " + secret} }
	actAs := func(v string) core.Header { return core.Header{Name: "X-Glean-ActAs", Value: v} }
	return []peerCase{
		{"user token searches", f.Request, Now},
		{"user token with query", withHeaders("POST", "/rest/api/v1/search?q=1", bearer(user)), Now},
		{"user token on pattern endpoint", withHeaders("GET", "/rest/api/v1/chat-files/f1", bearer(user)), Now},
		{"user token after expiry", f.Request, tokenExpiry},
		{"user token without scope", withHeaders("POST", "/rest/api/v1/listentities", bearer(user)), Now},
		{"user token on unmapped endpoint", withHeaders("POST", "/rest/api/v1/runworkflow", bearer(user)), Now},
		{"user token with act-as", withHeaders("POST", "/rest/api/v1/search", bearer(user), actAs("ann@example.com")), Now},
		{"lower-case bearer scheme", withHeaders("POST", "/rest/api/v1/search", core.Header{Name: "authorization", Value: "bearer " + user}), Now},
		{"missing authorization", withHeaders("POST", "/rest/api/v1/search"), Now},
		{"two authorization fields", withHeaders("POST", "/rest/api/v1/search", bearer(user), bearer(global)), Now},
		{"unknown token", withHeaders("POST", "/rest/api/v1/search", bearer("imported-token-1")), Now},
		{"global token acts as user", withHeaders("POST", "/rest/api/v1/search", bearer(global), actAs("Ann@Example.com")), Now},
		{"global token without act-as", withHeaders("POST", "/rest/api/v1/search", bearer(global)), Now},
		{"global token outside its domains", withHeaders("POST", "/rest/api/v1/search", bearer(global), actAs("ann@other.org")), Now},
		{"global token with invalid act-as", withHeaders("POST", "/rest/api/v1/search", bearer(global), actAs("Ann <ann@example.com>")), Now},
		{"global token with two act-as values", withHeaders("POST", "/rest/api/v1/search", bearer(global), actAs("a@example.com"), core.Header{Name: "X-Scio-ActAs", Value: "b@example.com"}), Now},
		{"anonymous token searches", withHeaders("POST", "/rest/api/v1/search", bearer(anonymous)), Now},
		{"anonymous token off anonymous endpoint", withHeaders("POST", "/rest/api/v1/getchat", bearer(anonymous)), Now},
	}
}

func TestOPA_MatchesNative(t *testing.T) {
	ctx := context.Background()
	f := newSmallFixture(t)
	opa, err := NewOPA(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	allowed := 0
	for _, c := range peerCases(f) {
		t.Run(c.name, func(t *testing.T) {
			want := f.Validator.Decide(c.req, c.now)
			got, err := opa.Decide(ctx, c.req, c.now)
			if err != nil {
				t.Fatal(err)
			}
			if got.Allow != want.Allow {
				t.Fatalf("allow = %v, native decided %v (%s)", got.Allow, want.Allow, want.Reason)
			}
			if got.Principal != want.Principal {
				t.Errorf("principal = %q, native decided %q", got.Principal, want.Principal)
			}
			if got.Allow && got.Scope != want.Scope.String() {
				t.Errorf("scope = %q, native decided %q", got.Scope, want.Scope)
			}
		})
		if f.Validator.Decide(c.req, c.now).Allow {
			allowed++
		}
	}
	if allowed < 4 {
		t.Errorf("only %d cases are allowed: the table no longer exercises the allow path", allowed)
	}
}

func TestJWT_Decide(t *testing.T) {
	f := newSmallFixture(t)
	for _, method := range []string{"HS256", "ES256"} {
		t.Run(strings.ToLower(method), func(t *testing.T) {
			current := Now
			peer, err := NewJWT(method, f, func() time.Time { return current })
			if err != nil {
				t.Fatal(err)
			}
			head, _, _ := strings.Cut(peer.Token, ".")
			tampered := peer.Token[:len(peer.Token)-4] + "AAAA"
			if tampered == peer.Token {
				tampered = peer.Token[:len(peer.Token)-4] + "BBBB"
			}
			cases := []struct {
				name  string
				req   core.Request
				now   time.Time
				allow bool
			}{
				{"allowed search", AllowRequest(peer.Token), Now, true},
				{"after expiry", AllowRequest(peer.Token), tokenExpiry.Add(time.Second), false},
				{"scope missing", core.Request{Method: "POST", Path: "/rest/api/v1/listentities", Headers: AllowRequest(peer.Token).Headers}, Now, false},
				{"unmapped endpoint", core.Request{Method: "POST", Path: "/rest/api/v1/runworkflow", Headers: AllowRequest(peer.Token).Headers}, Now, false},
				{"tampered signature", AllowRequest(tampered), Now, false},
				{"header only", AllowRequest(head), Now, false},
				{"missing authorization", core.Request{Method: "POST", Path: "/rest/api/v1/search"}, Now, false},
			}
			for _, c := range cases {
				current = c.now
				got, err := peer.Decide(c.req)
				if got.Allow != c.allow {
					t.Errorf("%s: allow = %v (error %v), expected %v", c.name, got.Allow, err, c.allow)
				}
				if c.allow && got.Principal != f.Token.User {
					t.Errorf("%s: principal = %q, expected %q", c.name, got.Principal, f.Token.User)
				}
			}
		})
	}
}
