// Package core decides whether a Client API request may pass the edge.
//
// A [Validator] combines a compiled [Policy] (which endpoint needs which scope) with a token
// [Store] (token metadata indexed by the SHA-256 digest of the secret). Its Decide method runs
// the checks in a fixed order and returns a [Decision] that carries a stable [Reason] code:
//
//  1. the path (malformed paths are rejected before anything else);
//  2. unauthenticated passes (CORS preflights and public endpoints);
//  3. the Authorization field (presence, count, scheme, token68 syntax);
//  4. the token (format, store lookup, revocation, expiry);
//  5. the act-as headers X-Scio-ActAs and X-Glean-ActAs;
//  6. the endpoint and the token's scopes.
//
// The first failing check decides. The package is a pure function of its inputs: the clock is a
// parameter, nothing is logged, and there is no package-level mutable state, so several
// validators can live side by side and the same input gives the same decision natively and in
// every WebAssembly build.
//
// A [Bundle] is the compiled form of a policy and a store that the WebAssembly engines load
// without a YAML parser. The wire helpers ([Decision.Challenge], [Decision.DenyBody],
// [IsReservedHeader], [Decision.IdentityHeaders]) give every adapter the same HTTP answer.
package core
