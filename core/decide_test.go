package core

import (
	"strings"
	"testing"
	"time"
)

// decideCase is one request against a fixture and the decision it must get.
type decideCase struct {
	name    string
	spec    *PolicySpec // nil means the default policy
	method  string
	path    string
	headers func(f *fixture, t *testing.T) []Header
	now     time.Time // zero means fixtureNow
	want    expectation
}

// runDecideCases decides every case on a fixture of its policy and checks the decision.
func runDecideCases(t *testing.T, cases []decideCase) {
	t.Helper()
	fixtures := map[*PolicySpec]*fixture{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, ok := fixtures[c.spec]
			if !ok {
				f = newFixture(t, c.spec)
				fixtures[c.spec] = f
			}
			var headers []Header
			if c.headers != nil {
				headers = c.headers(f, t)
			}
			now := c.now
			if now.IsZero() {
				now = fixtureNow
			}
			d := f.validator.Decide(Request{Method: c.method, Path: c.path, Headers: headers}, now)
			checkDecision(t, d, c.want)
		})
	}
}

// withToken returns headers that send the fixture token id, followed by extra fields.
func withToken(id string, extra ...Header) func(*fixture, *testing.T) []Header {
	return func(f *fixture, t *testing.T) []Header {
		return append([]Header{f.bearer(t, id)}, extra...)
	}
}

// fields returns fixed headers.
func fields(h ...Header) func(*fixture, *testing.T) []Header {
	return func(*fixture, *testing.T) []Header { return h }
}

// publicSpec is the default policy plus a public GET /status endpoint.
func publicSpec() *PolicySpec {
	s := defaultSpec()
	s.Endpoints = append(s.Endpoints, Endpoint{Method: "GET", Path: "/status", Public: true})
	return &s
}

// skewSpec is the default policy with a 30-second clock skew.
func skewSpec() *PolicySpec {
	s := defaultSpec()
	s.ClockSkew = 30 * time.Second
	return &s
}

// noPreflightSpec is the default policy with CORS preflights treated like any other request.
func noPreflightSpec() *PolicySpec {
	s := defaultSpec()
	s.AllowCORSPreflight = false
	return &s
}

// Well-formed tokens in the project's format that no fixture store holds.
var (
	unknownSecret = "glean_000000000000000000000000000000" + "4LyLie"
	badChecksum   = "glean_000000000000000000000000000000" + "4LyLif"
)

var (
	origin       = Header{HeaderOrigin, "https://app.example.com"}
	preflightFor = Header{HeaderAccessControlRequestMethod, "POST"}
	scio         = func(v string) Header { return Header{HeaderScioActAs, v} }
	glean        = func(v string) Header { return Header{HeaderGleanActAs, v} }
)

func TestDecide_EveryReason(t *testing.T) {
	cases := []decideCase{
		{name: "ok", method: "POST", path: api("/search"), headers: withToken(idUser),
			want: expectation{reason: ReasonOK, tokenID: idUser, permission: PermissionUser, principal: "ann@example.com", scope: ScopeSearch}},
		{name: "malformed_path", method: "POST", path: api("/chat/../search"), headers: withToken(idUser),
			want: expectation{reason: ReasonMalformedPath}},
		{name: "cors_preflight", method: "OPTIONS", path: api("/search"), headers: fields(origin, preflightFor),
			want: expectation{reason: ReasonCORSPreflight}},
		{name: "public_endpoint", spec: publicSpec(), method: "GET", path: api("/status"),
			want: expectation{reason: ReasonPublicEndpoint}},
		{name: "missing_token", method: "POST", path: api("/search"),
			want: expectation{reason: ReasonMissingToken}},
		{name: "multiple_authorization", method: "POST", path: api("/search"),
			headers: withToken(idUser, Header{"authorization", "Bearer " + unknownSecret}),
			want:    expectation{reason: ReasonMultipleAuthorization}},
		{name: "unsupported_scheme", method: "POST", path: api("/search"), headers: fields(Header{HeaderAuthorization, "Basic YW5uOnB3"}),
			want: expectation{reason: ReasonUnsupportedScheme}},
		{name: "malformed_authorization", method: "POST", path: api("/search"), headers: fields(Header{HeaderAuthorization, "Bearer a b"}),
			want: expectation{reason: ReasonMalformedAuthorization}},
		{name: "malformed_token", method: "POST", path: api("/search"), headers: fields(Header{HeaderAuthorization, "Bearer " + badChecksum}),
			want: expectation{reason: ReasonMalformedToken}},
		{name: "unknown_token", method: "POST", path: api("/search"), headers: fields(Header{HeaderAuthorization, "Bearer " + unknownSecret}),
			want: expectation{reason: ReasonUnknownToken}},
		{name: "revoked_token", method: "POST", path: api("/search"), headers: withToken(idRevoked),
			want: expectation{reason: ReasonRevokedToken, tokenID: idRevoked, permission: PermissionUser}},
		{name: "expired_token", method: "POST", path: api("/search"), headers: withToken(idExpired),
			want: expectation{reason: ReasonExpiredToken, tokenID: idExpired, permission: PermissionUser}},
		{name: "ambiguous_actas", method: "POST", path: api("/search"), headers: withToken(idGlobal, scio("dana@example.com"), glean("eve@example.com")),
			want: expectation{reason: ReasonAmbiguousActAs, tokenID: idGlobal, permission: PermissionGlobal}},
		{name: "actas_required", method: "POST", path: api("/search"), headers: withToken(idGlobal),
			want: expectation{reason: ReasonActAsRequired, tokenID: idGlobal, permission: PermissionGlobal}},
		{name: "actas_invalid", method: "POST", path: api("/search"), headers: withToken(idGlobal, scio("dana")),
			want: expectation{reason: ReasonActAsInvalid, tokenID: idGlobal, permission: PermissionGlobal}},
		{name: "actas_domain_forbidden", method: "POST", path: api("/search"), headers: withToken(idGlobalDomain, scio("dana@example.net")),
			want: expectation{reason: ReasonActAsDomainForbidden, tokenID: idGlobalDomain, permission: PermissionGlobal}},
		{name: "actas_forbidden", method: "POST", path: api("/search"), headers: withToken(idUser, scio("ann@example.com")),
			want: expectation{reason: ReasonActAsForbidden, tokenID: idUser, permission: PermissionUser}},
		{name: "endpoint_unmapped", method: "POST", path: api("/getdocuments"), headers: withToken(idUser),
			want: expectation{reason: ReasonEndpointUnmapped, tokenID: idUser, permission: PermissionUser}},
		{name: "anonymous_not_allowed", method: "POST", path: api("/chat"), headers: withToken(idAnon),
			want: expectation{reason: ReasonAnonymousNotAllowed, tokenID: idAnon, permission: PermissionAnonymous}},
		{name: "scope_missing", method: "POST", path: api("/chat"), headers: withToken(idUser),
			want: expectation{reason: ReasonScopeMissing, tokenID: idUser, permission: PermissionUser, scope: ScopeChat}},
	}
	covered := map[Reason]bool{ReasonNotConfigured: true} // TestDecide_NotConfigured
	for _, c := range cases {
		covered[c.want.reason] = true
	}
	for _, r := range AllReasons() {
		if !covered[r] {
			t.Errorf("no case for reason %s", r)
		}
	}
	runDecideCases(t, cases)
}

func TestDecide_NotConfigured(t *testing.T) {
	f := newFixture(t, nil)
	req := Request{Method: "POST", Path: api("/search"), Headers: []Header{f.bearer(t, idUser)}}
	validators := map[string]*Validator{
		"nil validator": nil,
		"nil policy":    NewValidator(nil, f.validator.Store()),
		"nil store":     NewValidator(f.validator.Policy(), nil),
	}
	for name, v := range validators {
		t.Run(name, func(t *testing.T) {
			checkDecision(t, v.Decide(req, fixtureNow), expectation{reason: ReasonNotConfigured})
		})
	}
	checkDecision(t, NotConfigured(), expectation{reason: ReasonNotConfigured})
}

// TestDecide_CheckOrder sends, for each pair of adjacent checks, a request that fails both and
// expects the earlier check's reason.
func TestDecide_CheckOrder(t *testing.T) {
	userWant := func(r Reason) expectation {
		return expectation{reason: r, tokenID: idUser, permission: PermissionUser}
	}
	globalWant := func(r Reason) expectation {
		return expectation{reason: r, tokenID: idGlobal, permission: PermissionGlobal}
	}
	runDecideCases(t, []decideCase{
		{name: "malformed path before preflight", method: "OPTIONS", path: api("//search"), headers: fields(origin, preflightFor),
			want: expectation{reason: ReasonMalformedPath}},
		{name: "malformed path before public endpoint", spec: publicSpec(), method: "GET", path: api("/status/."),
			want: expectation{reason: ReasonMalformedPath}},
		{name: "malformed path before missing token", method: "POST", path: api("/search%2f"),
			want: expectation{reason: ReasonMalformedPath}},
		{name: "preflight before public endpoint", spec: publicSpec(), method: "OPTIONS", path: api("/status"), headers: fields(origin, preflightFor),
			want: expectation{reason: ReasonCORSPreflight}},
		{name: "preflight before missing token on unmapped path", method: "OPTIONS", path: api("/getdocuments"), headers: fields(origin, preflightFor),
			want: expectation{reason: ReasonCORSPreflight}},
		{name: "preflight before a bad credential", method: "OPTIONS", path: api("/search"), headers: fields(origin, preflightFor, Header{HeaderAuthorization, "Basic x"}),
			want: expectation{reason: ReasonCORSPreflight}},
		{name: "public endpoint before missing token", spec: publicSpec(), method: "GET", path: api("/status"),
			want: expectation{reason: ReasonPublicEndpoint}},
		{name: "public endpoint before unknown token", spec: publicSpec(), method: "GET", path: api("/status"), headers: fields(Header{HeaderAuthorization, "Bearer " + unknownSecret}),
			want: expectation{reason: ReasonPublicEndpoint}},
		{name: "multiple authorization before unsupported scheme", method: "POST", path: api("/search"),
			headers: fields(Header{HeaderAuthorization, "Basic a"}, Header{HeaderAuthorization, "Basic b"}),
			want:    expectation{reason: ReasonMultipleAuthorization}},
		{name: "unsupported scheme before malformed credential", method: "POST", path: api("/search"), headers: fields(Header{HeaderAuthorization, "Token a b c"}),
			want: expectation{reason: ReasonUnsupportedScheme}},
		{name: "malformed authorization before malformed token", method: "POST", path: api("/search"), headers: fields(Header{HeaderAuthorization, "Bearer glean_ short"}),
			want: expectation{reason: ReasonMalformedAuthorization}},
		{name: "over-long credential before malformed token", method: "POST", path: api("/search"),
			headers: fields(Header{HeaderAuthorization, "Bearer glean_" + strings.Repeat("a", MaxCredentialLen)}),
			want:    expectation{reason: ReasonMalformedAuthorization}},
		{name: "malformed token before unknown token", method: "POST", path: api("/search"), headers: fields(Header{HeaderAuthorization, "Bearer glean_" + strings.Repeat("a", 37)}),
			want: expectation{reason: ReasonMalformedToken}},
		{name: "unknown token before unmapped endpoint", method: "POST", path: api("/getdocuments"), headers: fields(Header{HeaderAuthorization, "Bearer " + unknownSecret}),
			want: expectation{reason: ReasonUnknownToken}},
		{name: "revoked before expired", method: "POST", path: api("/search"), headers: withToken(idRevokedExpired),
			want: expectation{reason: ReasonRevokedToken, tokenID: idRevokedExpired, permission: PermissionUser}},
		{name: "expired before ambiguous act-as", method: "POST", path: api("/search"), headers: withToken(idExpired, scio("a@example.com"), glean("b@example.com")),
			want: expectation{reason: ReasonExpiredToken, tokenID: idExpired, permission: PermissionUser}},
		{name: "ambiguous act-as before act-as forbidden", method: "POST", path: api("/search"), headers: withToken(idUser, scio("a@example.com"), scio("b@example.com")),
			want: userWant(ReasonAmbiguousActAs)},
		{name: "ambiguous act-as before act-as invalid", method: "POST", path: api("/search"), headers: withToken(idGlobal, scio("not-an-address"), glean("also not")),
			want: globalWant(ReasonAmbiguousActAs)},
		{name: "act-as required before unmapped endpoint", method: "POST", path: api("/getdocuments"), headers: withToken(idGlobal),
			want: globalWant(ReasonActAsRequired)},
		{name: "act-as invalid before domain forbidden", method: "POST", path: api("/search"), headers: withToken(idGlobalDomain, scio("Dana <dana@example.net>")),
			want: expectation{reason: ReasonActAsInvalid, tokenID: idGlobalDomain, permission: PermissionGlobal}},
		{name: "act-as invalid before unmapped endpoint", method: "POST", path: api("/getdocuments"), headers: withToken(idGlobal, scio("dana")),
			want: globalWant(ReasonActAsInvalid)},
		{name: "domain forbidden before unmapped endpoint", method: "POST", path: api("/getdocuments"), headers: withToken(idGlobalDomain, scio("dana@example.net")),
			want: expectation{reason: ReasonActAsDomainForbidden, tokenID: idGlobalDomain, permission: PermissionGlobal}},
		{name: "domain forbidden before scope missing", method: "POST", path: api("/chat"), headers: withToken(idGlobalDomain, scio("dana@example.net")),
			want: expectation{reason: ReasonActAsDomainForbidden, tokenID: idGlobalDomain, permission: PermissionGlobal}},
		{name: "act-as forbidden before unmapped endpoint", method: "POST", path: api("/getdocuments"), headers: withToken(idUser, glean("ann@example.com")),
			want: userWant(ReasonActAsForbidden)},
		{name: "act-as forbidden for anonymous before anonymous not allowed", method: "POST", path: api("/chat"), headers: withToken(idAnon, scio("ann@example.com")),
			want: expectation{reason: ReasonActAsForbidden, tokenID: idAnon, permission: PermissionAnonymous}},
		{name: "unmapped endpoint before anonymous not allowed", method: "POST", path: api("/getdocuments"), headers: withToken(idAnon),
			want: expectation{reason: ReasonEndpointUnmapped, tokenID: idAnon, permission: PermissionAnonymous}},
		{name: "anonymous not allowed before scope missing", method: "POST", path: api("/listanswers"), headers: withToken(idAnonChat),
			want: expectation{reason: ReasonAnonymousNotAllowed, tokenID: idAnonChat, permission: PermissionAnonymous}},
		{name: "scope missing on anonymous endpoint", method: "POST", path: api("/search"), headers: withToken(idAnonChat),
			want: expectation{reason: ReasonScopeMissing, tokenID: idAnonChat, permission: PermissionAnonymous, scope: ScopeSearch}},
	})
}

func TestDecide_ExpiryInstant(t *testing.T) {
	want := func(r Reason) expectation {
		e := expectation{reason: r, tokenID: idEdge, permission: PermissionUser}
		if r == ReasonOK {
			e.principal, e.scope = "ed@example.com", ScopeSearch
		}
		return e
	}
	at := func(d time.Duration) time.Time { return edgeExpiresAt.Add(d) }
	runDecideCases(t, decideCases{
		{name: "one second before expiry", now: at(-time.Second), want: want(ReasonOK)},
		{name: "one nanosecond before expiry", now: at(-1), want: want(ReasonOK)},
		{name: "at the expiry instant", now: at(0), want: want(ReasonExpiredToken)},
		{name: "one second after expiry", now: at(time.Second), want: want(ReasonExpiredToken)},
		{name: "expiry instant in another zone", now: at(0).In(time.FixedZone("UTC+5", 5*3600)), want: want(ReasonExpiredToken)},
		{name: "skew keeps the token at expiry", spec: skewSpec(), now: at(0), want: want(ReasonOK)},
		{name: "skew keeps the token one second before its end", spec: skewSpec(), now: at(29 * time.Second), want: want(ReasonOK)},
		{name: "skew ends exactly at expiry plus skew", spec: skewSpec(), now: at(30 * time.Second), want: want(ReasonExpiredToken)},
		{name: "skew one second after its end", spec: skewSpec(), now: at(31 * time.Second), want: want(ReasonExpiredToken)},
	}.withRequest("POST", api("/search"), withToken(idEdge)))
}

func TestDecide_RevocationInstant(t *testing.T) {
	revokedAt := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	want := func(r Reason) expectation {
		e := expectation{reason: r, tokenID: idRevokedFuture, permission: PermissionUser}
		if r == ReasonOK {
			e.principal, e.scope = "fay@example.com", ScopeSearch
		}
		return e
	}
	at := func(d time.Duration) time.Time { return revokedAt.Add(d) }
	runDecideCases(t, decideCases{
		{name: "one second before revocation", now: at(-time.Second), want: want(ReasonOK)},
		{name: "at the revocation instant", now: at(0), want: want(ReasonRevokedToken)},
		{name: "one second after revocation", now: at(time.Second), want: want(ReasonRevokedToken)},
		{name: "skew does not delay revocation", spec: skewSpec(), now: at(0), want: want(ReasonRevokedToken)},
		{name: "skew does not delay revocation by one second", spec: skewSpec(), now: at(time.Second), want: want(ReasonRevokedToken)},
	}.withRequest("POST", api("/search"), withToken(idRevokedFuture)))
}

// decideCases is a list of cases that share one request.
type decideCases []decideCase

// withRequest sets method, path and headers on every case.
func (cs decideCases) withRequest(method, path string, headers func(*fixture, *testing.T) []Header) []decideCase {
	out := make([]decideCase, len(cs))
	for i, c := range cs {
		c.method, c.path, c.headers = method, path, headers
		out[i] = c
	}
	return out
}

func TestDecide_ActAs(t *testing.T) {
	global := func(principal string) expectation {
		return expectation{reason: ReasonOK, tokenID: idGlobal, permission: PermissionGlobal, principal: principal, scope: ScopeSearch}
	}
	globalDeny := func(r Reason) expectation {
		return expectation{reason: r, tokenID: idGlobal, permission: PermissionGlobal}
	}
	domain := func(r Reason, principal string) expectation {
		e := expectation{reason: r, tokenID: idGlobalDomain, permission: PermissionGlobal}
		if r == ReasonOK {
			e.principal, e.scope = principal, ScopeSearch
		}
		return e
	}
	user := expectation{reason: ReasonOK, tokenID: idUser, permission: PermissionUser, principal: "ann@example.com", scope: ScopeSearch}
	search := api("/search")
	runDecideCases(t, decideCases{
		{name: "scio name", headers: withToken(idGlobal, scio("dana@example.com")), want: global("dana@example.com")},
		{name: "glean name", headers: withToken(idGlobal, glean("dana@example.com")), want: global("dana@example.com")},
		{name: "lower-case names", headers: withToken(idGlobal, Header{"x-scio-actas", "dana@example.com"}), want: global("dana@example.com")},
		{name: "upper-case names", headers: withToken(idGlobal, Header{"X-GLEAN-ACTAS", "dana@example.com"}), want: global("dana@example.com")},
		{name: "both names agree", headers: withToken(idGlobal, scio("dana@example.com"), glean("dana@example.com")), want: global("dana@example.com")},
		{name: "both names agree ignoring case", headers: withToken(idGlobal, scio("Dana@Example.com"), glean("dana@EXAMPLE.COM")), want: global("dana@example.com")},
		{name: "one name repeated with one value", headers: withToken(idGlobal, scio("dana@example.com"), scio("DANA@example.com")), want: global("dana@example.com")},
		{name: "principal is lowercased", headers: withToken(idGlobal, scio("DANA@EXAMPLE.COM")), want: global("dana@example.com")},
		{name: "spaces and tabs trimmed", headers: withToken(idGlobal, scio(" \tdana@example.com \t")), want: global("dana@example.com")},
		{name: "empty value dropped", headers: withToken(idGlobal, scio(""), glean("dana@example.com")), want: global("dana@example.com")},
		{name: "blank value dropped", headers: withToken(idGlobal, glean("dana@example.com"), scio(" \t ")), want: global("dana@example.com")},
		{name: "only blank values", headers: withToken(idGlobal, scio(" "), glean("\t")), want: globalDeny(ReasonActAsRequired)},
		{name: "underscore spelling is not act-as", headers: withToken(idGlobal, Header{"X_Scio_ActAs", "dana@example.com"}), want: globalDeny(ReasonActAsRequired)},
		{name: "names disagree", headers: withToken(idGlobal, scio("dana@example.com"), glean("eve@example.com")), want: globalDeny(ReasonAmbiguousActAs)},
		{name: "one name with two values", headers: withToken(idGlobal, glean("dana@example.com"), glean("eve@example.com")), want: globalDeny(ReasonAmbiguousActAs)},
		{name: "third value disagrees", headers: withToken(idGlobal, scio("dana@example.com"), glean("DANA@example.com"), glean("eve@example.com")), want: globalDeny(ReasonAmbiguousActAs)},
		{name: "not an address", headers: withToken(idGlobal, scio("dana")), want: globalDeny(ReasonActAsInvalid)},
		{name: "display name", headers: withToken(idGlobal, scio("Dana <dana@example.com>")), want: globalDeny(ReasonActAsInvalid)},
		{name: "two addresses", headers: withToken(idGlobal, scio("dana@example.com,eve@example.com")), want: globalDeny(ReasonActAsInvalid)},
		{name: "domain allowed", headers: withToken(idGlobalDomain, scio("dana@example.com")), want: domain(ReasonOK, "dana@example.com")},
		{name: "second domain allowed", headers: withToken(idGlobalDomain, scio("dana@example.org")), want: domain(ReasonOK, "dana@example.org")},
		{name: "domain compared without case", headers: withToken(idGlobalDomain, scio("Dana@EXAMPLE.COM")), want: domain(ReasonOK, "dana@example.com")},
		{name: "subdomain forbidden", headers: withToken(idGlobalDomain, scio("dana@eu.example.com")), want: domain(ReasonActAsDomainForbidden, "")},
		{name: "suffix domain forbidden", headers: withToken(idGlobalDomain, scio("dana@badexample.com")), want: domain(ReasonActAsDomainForbidden, "")},
		{name: "allowed domain as prefix forbidden", headers: withToken(idGlobalDomain, scio("dana@example.com.attacker.test")), want: domain(ReasonActAsDomainForbidden, "")},
		{name: "user token with empty act-as", headers: withToken(idUser, scio(""), glean(" ")), want: user},
		{name: "user token acting as itself", headers: withToken(idUser, scio("ann@example.com")),
			want: expectation{reason: ReasonActAsForbidden, tokenID: idUser, permission: PermissionUser}},
		{name: "anonymous token with act-as", headers: withToken(idAnon, glean("ann@example.com")),
			want: expectation{reason: ReasonActAsForbidden, tokenID: idAnon, permission: PermissionAnonymous}},
		{name: "anonymous token with empty act-as", headers: withToken(idAnon, glean("")),
			want: expectation{reason: ReasonOK, tokenID: idAnon, permission: PermissionAnonymous, scope: ScopeSearch}},
	}.withPath("POST", search))
}

// withPath sets method and path on every case.
func (cs decideCases) withPath(method, path string) []decideCase {
	out := make([]decideCase, len(cs))
	for i, c := range cs {
		c.method, c.path = method, path
		out[i] = c
	}
	return out
}

func TestDecide_Credentials(t *testing.T) {
	user := expectation{reason: ReasonOK, tokenID: idUser, permission: PermissionUser, principal: "ann@example.com", scope: ScopeSearch}
	deny := func(r Reason) expectation { return expectation{reason: r} }
	secret := func(f *fixture, t *testing.T) string { return f.tokens[idUser].secret }
	auth := func(format string) func(*fixture, *testing.T) []Header {
		return func(f *fixture, t *testing.T) []Header {
			return []Header{{HeaderAuthorization, strings.ReplaceAll(format, "SECRET", secret(f, t))}}
		}
	}
	runDecideCases(t, decideCases{
		{name: "bearer", headers: auth("Bearer SECRET"), want: user},
		{name: "lower-case scheme", headers: auth("bearer SECRET"), want: user},
		{name: "mixed-case scheme", headers: auth("bEaReR SECRET"), want: user},
		{name: "tab after scheme", headers: auth("Bearer\tSECRET"), want: user},
		{name: "spaces around", headers: auth("  Bearer   SECRET  "), want: user},
		{name: "lower-case field name", headers: func(f *fixture, t *testing.T) []Header {
			return []Header{{"authorization", "Bearer " + secret(f, t)}}
		}, want: user},
		{name: "blank second field counts as absent", headers: func(f *fixture, t *testing.T) []Header {
			return []Header{{HeaderAuthorization, "Bearer " + secret(f, t)}, {HeaderAuthorization, " \t"}}
		}, want: user},
		{name: "no field", want: deny(ReasonMissingToken)},
		{name: "empty field", headers: fields(Header{HeaderAuthorization, ""}), want: deny(ReasonMissingToken)},
		{name: "blank field", headers: fields(Header{HeaderAuthorization, " \t "}), want: deny(ReasonMissingToken)},
		{name: "proxy authorization is not authorization", headers: func(f *fixture, t *testing.T) []Header {
			return []Header{{"Proxy-Authorization", "Bearer " + secret(f, t)}}
		}, want: deny(ReasonMissingToken)},
		{name: "two fields", headers: func(f *fixture, t *testing.T) []Header {
			return []Header{{HeaderAuthorization, "Bearer " + secret(f, t)}, {"AUTHORIZATION", "Bearer " + secret(f, t)}}
		}, want: deny(ReasonMultipleAuthorization)},
		{name: "basic scheme", headers: fields(Header{HeaderAuthorization, "Basic YTpi"}), want: deny(ReasonUnsupportedScheme)},
		{name: "scheme prefix only", headers: fields(Header{HeaderAuthorization, "Bear x"}), want: deny(ReasonUnsupportedScheme)},
		{name: "scheme glued to credential", headers: auth("BearerSECRET"), want: deny(ReasonUnsupportedScheme)},
		{name: "credential without scheme", headers: auth("SECRET"), want: deny(ReasonUnsupportedScheme)},
		{name: "scheme without credential", headers: fields(Header{HeaderAuthorization, "Bearer"}), want: deny(ReasonMalformedAuthorization)},
		{name: "scheme with blank credential", headers: fields(Header{HeaderAuthorization, "Bearer \t "}), want: deny(ReasonMalformedAuthorization)},
		{name: "inner space", headers: auth("Bearer SECRET x"), want: deny(ReasonMalformedAuthorization)},
		{name: "comma", headers: auth("Bearer SECRET,x"), want: deny(ReasonMalformedAuthorization)},
		{name: "quoted credential", headers: auth(`Bearer "SECRET"`), want: deny(ReasonMalformedAuthorization)},
		{name: "equals inside", headers: fields(Header{HeaderAuthorization, "Bearer ab=cd"}), want: deny(ReasonMalformedAuthorization)},
		{name: "only equals", headers: fields(Header{HeaderAuthorization, "Bearer =="}), want: deny(ReasonMalformedAuthorization)},
		{name: "non-ascii byte", headers: fields(Header{HeaderAuthorization, "Bearer ab\xc3\xa9"}), want: deny(ReasonMalformedAuthorization)},
		{name: "credential at the length limit", headers: fields(Header{HeaderAuthorization, "Bearer " + strings.Repeat("a", MaxCredentialLen)}), want: deny(ReasonUnknownToken)},
		{name: "credential over the length limit", headers: fields(Header{HeaderAuthorization, "Bearer " + strings.Repeat("a", MaxCredentialLen+1)}), want: deny(ReasonMalformedAuthorization)},
		{name: "token68 padding", headers: fields(Header{HeaderAuthorization, "Bearer a-._~+/9=="}), want: deny(ReasonUnknownToken)},
		{name: "prefixed token too short", headers: fields(Header{HeaderAuthorization, "Bearer glean_abc"}), want: deny(ReasonMalformedToken)},
		{name: "prefixed token with padding", headers: auth("Bearer SECRET="), want: deny(ReasonMalformedToken)},
		{name: "prefixed token with a dash", headers: fields(Header{HeaderAuthorization, "Bearer glean_00000000000000000000000000000-4LyLie"}), want: deny(ReasonMalformedToken)},
		{name: "upper-case prefix is looked up as it is", headers: fields(Header{HeaderAuthorization, "Bearer GLEAN_000000000000000000000000000000"}), want: deny(ReasonUnknownToken)},
		{name: "imported token without prefix", headers: fields(Header{HeaderAuthorization, "Bearer " + legacySecret}),
			want: expectation{reason: ReasonOK, tokenID: idLegacy, permission: PermissionUser, principal: "lee@example.com", scope: ScopeSearch}},
	}.withPath("POST", api("/search")))
}

func TestDecide_Preflight(t *testing.T) {
	preflight := expectation{reason: ReasonCORSPreflight}
	missing := expectation{reason: ReasonMissingToken}
	runDecideCases(t, decideCases{
		{name: "options with both fields", method: "OPTIONS", headers: fields(origin, preflightFor), want: preflight},
		{name: "field names in lower case", method: "OPTIONS", headers: fields(Header{"origin", "https://a.example"}, Header{"access-control-request-method", "POST"}), want: preflight},
		{name: "token is not read", method: "OPTIONS", headers: withToken(idUser, origin, preflightFor), want: preflight},
		{name: "only origin", method: "OPTIONS", headers: fields(origin), want: missing},
		{name: "only request method", method: "OPTIONS", headers: fields(preflightFor), want: missing},
		{name: "blank origin", method: "OPTIONS", headers: fields(Header{HeaderOrigin, " \t"}, preflightFor), want: missing},
		{name: "empty request method", method: "OPTIONS", headers: fields(origin, Header{HeaderAccessControlRequestMethod, ""}), want: missing},
		{name: "not options", method: "POST", headers: fields(origin, preflightFor), want: missing},
		{name: "lower-case options", method: "options", headers: fields(origin, preflightFor), want: missing},
		{name: "preflights disabled", spec: noPreflightSpec(), method: "OPTIONS", headers: fields(origin, preflightFor), want: missing},
		{name: "preflights disabled with a token", spec: noPreflightSpec(), method: "OPTIONS", headers: withToken(idUser, origin, preflightFor),
			want: expectation{reason: ReasonEndpointUnmapped, tokenID: idUser, permission: PermissionUser}},
	}.withTarget(api("/search")))
}

// withTarget sets the path on every case.
func (cs decideCases) withTarget(path string) []decideCase {
	out := make([]decideCase, len(cs))
	for i, c := range cs {
		c.path = path
		out[i] = c
	}
	return out
}
