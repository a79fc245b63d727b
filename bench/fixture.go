// Package bench measures tokengate against what users would deploy instead: OPA evaluating an
// equivalent Rego policy, and JWT verification with github.com/golang-jwt/jwt/v5, the check that
// Envoy's jwt_authn filter performs.
//
// The package holds the shared fixtures (a generated token store, the allowed request, the peer
// set-ups), the bounded loopback load generator behind the gateway figures, and the parser and
// renderer of docs/benchmarks.md. The benchmarks live in its test files and run with
// `make bench`, never under `go test -short`.
package bench

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/policyfile"
)

// Now is the instant every benchmark decides at. Generated tokens expire after it.
var Now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// tokenExpiry is the expiry instant of every generated token that expires.
var tokenExpiry = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

// Fixture is a compiled policy, a generated store and the allowed request that every engine and
// peer in the benchmarks decides.
type Fixture struct {
	// Policy is the compiled scopes.yaml.
	Policy *core.Policy
	// Store contains the generated tokens.
	Store *core.Store
	// Validator decides with Policy and Store.
	Validator *core.Validator
	// Token is the USER token that Request carries, and Secret is its bearer secret.
	Token  core.Token
	Secret string
	// Request is a POST to the search endpoint with Token, which the policy allows.
	Request core.Request
}

// NewFixture loads the policy file and builds a store of n generated tokens (n >= 1). The
// allowed request carries the USER token nearest to the middle of the store.
func NewFixture(policyPath string, n int) (*Fixture, error) {
	if n < 1 {
		return nil, fmt.Errorf("fixture: invalid token count %d: use 1 or more", n)
	}
	policy, err := policyfile.Load(policyPath)
	if err != nil {
		return nil, err
	}
	store, err := core.NewStore(GenerateTokens(n))
	if err != nil {
		return nil, fmt.Errorf("fixture: %w", err)
	}
	target := n / 2
	target -= target % 2 // even indexes are USER tokens
	token, ok := store.ByID(TokenID(target))
	if !ok {
		return nil, fmt.Errorf("fixture: token %s not found in the generated store", TokenID(target))
	}
	secret := Secret(target)
	return &Fixture{
		Policy:    policy,
		Store:     store,
		Validator: core.NewValidator(policy, store),
		Token:     token,
		Secret:    secret,
		Request:   AllowRequest(secret),
	}, nil
}

// Bundle returns the fixture's policy and store encoded as a bundle for the wasm engines.
func (f *Fixture) Bundle() ([]byte, error) {
	return core.EncodeBundle(f.Policy, f.Store)
}

// AllowRequest returns a search request that carries secret, with the headers a typical API
// client sends, so every engine scans a realistic header list.
func AllowRequest(secret string) core.Request {
	return core.Request{
		Method: "POST",
		Path:   "/rest/api/v1/search",
		Headers: []core.Header{
			{Name: "Host", Value: "api.example.com"},
			{Name: "User-Agent", Value: "client-api-sdk/1.4"},
			{Name: "Accept", Value: "application/json"},
			{Name: "Content-Type", Value: "application/json"},
			{Name: "Content-Length", Value: "42"},
			{Name: "Authorization", Value: "Bearer " + secret},
		},
	}
}

// TokenID returns the id of generated token i.
func TokenID(i int) string { return "tok_" + strconv.Itoa(i) }

// Secret returns the bearer secret of generated token i: a token in the project's format whose
// random part is derived from SHA-256 of the index, so every run generates the same store.
func Secret(i int) string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	seed := sha256.Sum256([]byte("tokengate-bench/" + strconv.Itoa(i)))
	body := make([]byte, 0, core.TokenLen)
	body = append(body, core.TokenPrefix...)
	for j := 0; j < core.TokenRandomLen; j++ {
		body = append(body, base62[seed[j]%62])
	}
	return string(body) + core.TokenChecksum(string(body))
}

// GenerateTokens returns n valid token records with deterministic secrets (see [Secret]).
// Token i is USER when i is even, GLOBAL when i%4 == 1 and ANONYMOUS otherwise; every USER
// token has the SEARCH scope, so the allowed request works for any even index.
func GenerateTokens(n int) []core.Token {
	tokens := make([]core.Token, n)
	search := core.NewScopeSet(core.ScopeSearch, core.ScopeChat, core.ScopeAnswers)
	for i := range tokens {
		t := core.Token{
			ID:        TokenID(i),
			Digest:    core.Digest(Secret(i)),
			Scopes:    search,
			ExpiresAt: tokenExpiry,
			CreatedAt: Now.AddDate(0, -1, 0),
			CreatedBy: "admin@example.com",
		}
		switch {
		case i%2 == 0:
			t.Permission = core.PermissionUser
			t.User = "user" + strconv.Itoa(i) + "@example.com"
		case i%4 == 1:
			t.Permission = core.PermissionGlobal
			t.ActAsDomains = []string{"example.com"}
		default:
			t.Permission = core.PermissionAnonymous
			t.Scopes = core.NewScopeSet(core.ScopeSearch)
			t.ExpiresAt = time.Time{}
		}
		tokens[i] = t
	}
	return tokens
}
