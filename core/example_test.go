package core_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tokengate/tokengate/core"
)

// exampleValidator returns a validator with one endpoint, POST /rest/api/v1/search under
// SEARCH, and one USER token for ann@example.com with the given secret.
func exampleValidator(secret string) *core.Validator {
	policy, err := core.NewPolicy(core.PolicySpec{
		AllowCORSPreflight: true,
		Endpoints:          []core.Endpoint{{Method: "POST", Path: "/search", Scope: core.ScopeSearch}},
	})
	if err != nil {
		panic(err)
	}
	store, err := core.NewStore([]core.Token{{
		ID:         "tok_ann",
		Digest:     core.Digest(secret),
		Permission: core.PermissionUser,
		User:       "ann@example.com",
		Scopes:     core.NewScopeSet(core.ScopeSearch),
	}})
	if err != nil {
		panic(err)
	}
	return core.NewValidator(policy, store)
}

func ExampleValidator_Decide() {
	const secret = "glean_000000000000000000000000000000" + "4LyLie"
	v := exampleValidator(secret)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

	allowed := v.Decide(core.Request{
		Method:  "POST",
		Path:    "/rest/api/v1/search?q=tokengate",
		Headers: []core.Header{{Name: "Authorization", Value: "Bearer " + secret}},
	}, now)
	fmt.Println(allowed.Status, allowed.Reason, allowed.TokenID, allowed.Principal, allowed.Scope)
	for _, h := range allowed.IdentityHeaders() {
		fmt.Printf("%s: %s\n", h.Name, h.Value)
	}

	denied := v.Decide(core.Request{Method: "POST", Path: "/rest/api/v1/search"}, now)
	fmt.Println(denied.Status, denied.Reason)
	fmt.Println("WWW-Authenticate:", denied.Challenge(v.Policy().Realm()))
	fmt.Printf("%s", denied.DenyBody())
	// Output:
	// 200 ok tok_ann ann@example.com SEARCH
	// X-Tokengate-Token-Id: tok_ann
	// X-Tokengate-Permission: USER
	// X-Tokengate-Scope: SEARCH
	// X-Tokengate-User: ann@example.com
	// 401 missing_token
	// WWW-Authenticate: Bearer realm="glean"
	// {"error":"unauthorized","reason":"missing_token","message":"a bearer token is required"}
}

func ExampleMintToken() {
	// Production code passes crypto/rand.Reader. A seeded ChaCha8 stream makes the output
	// repeatable here.
	token, err := core.MintToken(rand.NewChaCha8([32]byte{1}))
	if err != nil {
		panic(err)
	}
	fmt.Println(token, len(token), core.CheckTokenFormat(token))
	// The store keeps only the SHA-256 digest of the secret.
	fmt.Println(len(core.Digest(token)))
	// Output:
	// glean_iiw1H3lRmyFreIO9XhCkbxgqo75Bb7297Ruh 42 <nil>
	// 64
}

func ExampleEncodeBundle() {
	const secret = "glean_000000000000000000000000000000" + "4LyLie"
	v := exampleValidator(secret)
	bundle, err := core.EncodeBundle(v.Policy(), v.Store())
	if err != nil {
		panic(err)
	}

	// A WebAssembly engine receives the bundle bytes and rebuilds the validator.
	decoded, info, err := core.DecodeBundle(bundle)
	if err != nil {
		panic(err)
	}
	fmt.Println(info.Format, info.Tokens, info.Endpoints)
	d := decoded.Decide(core.Request{
		Method:  "POST",
		Path:    "/rest/api/v1/search",
		Headers: []core.Header{{Name: "Authorization", Value: "Bearer " + secret}},
	}, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	fmt.Println(d.Reason, d.Principal)
	// Output:
	// 1 1 1
	// ok ann@example.com
}
