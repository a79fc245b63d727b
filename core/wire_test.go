package core

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// decisionFor returns the decision that Decide builds for reason r, with the scope set for
// scope_missing as Decide sets it.
func decisionFor(r Reason) Decision {
	d := newDecision(r)
	if r == ReasonScopeMissing || r == ReasonOK {
		d.Scope = ScopeSearch
	}
	return d
}

func TestChallenge_EveryReason(t *testing.T) {
	const (
		plain   = `Bearer realm="glean"`
		invalid = `Bearer realm="glean", error="invalid_token"`
		request = `Bearer realm="glean", error="invalid_request"`
		scope   = `Bearer realm="glean", error="insufficient_scope"`
	)
	want := map[Reason]string{
		ReasonOK:                     "",
		ReasonMalformedPath:          "",
		ReasonCORSPreflight:          "",
		ReasonPublicEndpoint:         "",
		ReasonMissingToken:           plain,
		ReasonMultipleAuthorization:  request,
		ReasonUnsupportedScheme:      plain,
		ReasonMalformedAuthorization: request,
		ReasonMalformedToken:         invalid,
		ReasonUnknownToken:           invalid,
		ReasonRevokedToken:           invalid,
		ReasonExpiredToken:           invalid,
		ReasonAmbiguousActAs:         request,
		ReasonActAsRequired:          request,
		ReasonActAsInvalid:           request,
		ReasonActAsDomainForbidden:   "",
		ReasonActAsForbidden:         "",
		ReasonEndpointUnmapped:       scope,
		ReasonAnonymousNotAllowed:    scope,
		ReasonScopeMissing:           scope + `, scope="SEARCH"`,
		ReasonNotConfigured:          "",
	}
	for _, r := range AllReasons() {
		t.Run(r.String(), func(t *testing.T) {
			w, ok := want[r]
			if !ok {
				t.Fatalf("no expected challenge for reason %s", r)
			}
			if got := decisionFor(r).Challenge("glean"); got != w {
				t.Errorf("Challenge = %q, want %q", got, w)
			}
		})
	}
}

func TestChallenge_Realm(t *testing.T) {
	d := newDecision(ReasonUnknownToken)
	if got, want := d.Challenge("corp api"), `Bearer realm="corp api", error="invalid_token"`; got != want {
		t.Errorf("Challenge = %q, want %q", got, want)
	}
}

func TestChallenge_ScopeMissingWithoutScope(t *testing.T) {
	d := newDecision(ReasonScopeMissing)
	if got, want := d.Challenge("glean"), `Bearer realm="glean", error="insufficient_scope"`; got != want {
		t.Errorf("Challenge = %q, want %q", got, want)
	}
}

func TestDenyBody_EveryDenial(t *testing.T) {
	for _, r := range AllReasons() {
		if r.Allow() {
			continue
		}
		t.Run(r.String(), func(t *testing.T) {
			body := decisionFor(r).DenyBody()
			if !bytes.HasSuffix(body, []byte("}\n")) {
				t.Errorf("body %q does not end with a newline after the object", body)
			}
			var fields map[string]string
			dec := json.NewDecoder(bytes.NewReader(body))
			if err := dec.Decode(&fields); err != nil {
				t.Fatalf("body %q is not a JSON object of strings: %v", body, err)
			}
			want := map[string]string{"error": r.ErrorCode(), "reason": r.String(), "message": r.Message()}
			if !reflect.DeepEqual(fields, want) {
				t.Errorf("body = %v, want %v", fields, want)
			}
			if fields["message"] == "" {
				t.Errorf("message is empty")
			}
		})
	}
}

// TestWire_NoRequestDataEchoed decides requests that carry an email, a token and a path
// marker, and checks that neither the challenge nor the deny body repeats them.
func TestWire_NoRequestDataEchoed(t *testing.T) {
	f := newFixture(t, nil)
	const marker = "zq7marker"
	secret := f.tokens[idGlobalDomain].secret
	requests := []Request{
		{Method: "POST", Path: api("/search"), Headers: []Header{{HeaderAuthorization, "Bearer " + secret}, {HeaderScioActAs, marker + "@evil.test"}}},
		{Method: "POST", Path: api("/search"), Headers: []Header{{HeaderAuthorization, "Bearer " + secret}, {HeaderScioActAs, marker}}},
		{Method: "POST", Path: api("/" + marker), Headers: []Header{{HeaderAuthorization, "Bearer " + f.tokens[idUser].secret}}},
		{Method: "POST", Path: api("/search"), Headers: []Header{{HeaderAuthorization, "Bearer " + marker}}},
		{Method: "POST", Path: api("/search"), Headers: []Header{{HeaderAuthorization, marker + " x"}}},
		{Method: "POST", Path: api("/chat"), Headers: []Header{{HeaderAuthorization, "Bearer " + f.tokens[idUser].secret}}},
	}
	for _, req := range requests {
		d := f.validator.Decide(req, fixtureNow)
		if d.Allow {
			t.Fatalf("request %v allowed, want a denial", req)
		}
		for _, out := range []string{d.Challenge("glean"), string(d.DenyBody())} {
			for _, leak := range []string{marker, secret, f.tokens[idUser].secret, "ann@example.com"} {
				if strings.Contains(out, leak) {
					t.Errorf("%s: output %q contains request data %q", d.Reason, out, leak)
				}
			}
		}
	}
}

func TestIsReservedHeader(t *testing.T) {
	cases := []struct {
		name string
		want bool
	}{
		{"X-Tokengate-User", true},
		{"X-Tokengate-Token-Id", true},
		{"x-tokengate-scope", true},
		{"X-TOKENGATE-PERMISSION", true},
		{"x-ToKeNgAtE-anything", true},
		{"X-Tokengate-", true},
		{"X-Tokengate-Shadow-Reason", true},
		{"X_Tokengate_User", true},
		{"x_tokengate_user", true},
		{"X-Tokengate_User", true},
		{"X_Tokengate-User", true},
		{"X_TOKENGATE_", true},
		{"X_Scio_ActAs", true},
		{"x_scio_actas", true},
		{"X-Scio_ActAs", true},
		{"X_Scio-ActAs", true},
		{"X_Glean_ActAs", true},
		{"x_glean_actas", true},
		{"X-Glean_ActAs", true},
		{"X-Scio-ActAs", false},
		{"X-Glean-ActAs", false},
		{"x-scio-actas", false},
		{"X-Tokengate", false},
		{"X_Tokengate", false},
		{"X-Tokengatex-User", false},
		{"Y-Tokengate-User", false},
		{"X_Scio_ActAs_Extra", false},
		{"X_Scio_Act", false},
		{"Authorization", false},
		{"Content_Type", false},
		{"Content-Type", false},
		{"", false},
	}
	for _, c := range cases {
		if got := IsReservedHeader(c.name); got != c.want {
			t.Errorf("IsReservedHeader(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestIdentityHeaders(t *testing.T) {
	ok := func(p Permission, principal string) Decision {
		d := newDecision(ReasonOK)
		d.TokenID, d.Permission, d.Principal, d.Scope = "tok_x", p, principal, ScopeChat
		return d
	}
	cases := []struct {
		name string
		d    Decision
		want []Header
	}{
		{"user", ok(PermissionUser, "ann@example.com"), []Header{
			{HeaderTokenID, "tok_x"}, {HeaderPermission, "USER"}, {HeaderScope, "CHAT"}, {HeaderUser, "ann@example.com"},
		}},
		{"global", ok(PermissionGlobal, "dana@example.com"), []Header{
			{HeaderTokenID, "tok_x"}, {HeaderPermission, "GLOBAL"}, {HeaderScope, "CHAT"}, {HeaderUser, "dana@example.com"},
		}},
		{"anonymous has no user", ok(PermissionAnonymous, ""), []Header{
			{HeaderTokenID, "tok_x"}, {HeaderPermission, "ANONYMOUS"}, {HeaderScope, "CHAT"},
		}},
		{"cors preflight", newDecision(ReasonCORSPreflight), nil},
		{"public endpoint", newDecision(ReasonPublicEndpoint), nil},
		{"denial", decisionFor(ReasonScopeMissing), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.d.IdentityHeaders()
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("IdentityHeaders = %v, want %v", got, c.want)
			}
			for _, h := range got {
				if !IsReservedHeader(h.Name) {
					t.Errorf("identity header %s is not reserved, so a client could forge it", h.Name)
				}
			}
		})
	}
}

func TestIdentityHeaders_FromDecide(t *testing.T) {
	f := newFixture(t, nil)
	d := f.validator.Decide(Request{Method: "POST", Path: api("/search"), Headers: []Header{
		f.bearer(t, idGlobal), {HeaderGleanActAs, "Dana@Example.com"},
	}}, fixtureNow)
	want := []Header{
		{HeaderTokenID, idGlobal}, {HeaderPermission, "GLOBAL"}, {HeaderScope, "SEARCH"}, {HeaderUser, "dana@example.com"},
	}
	if got := d.IdentityHeaders(); !reflect.DeepEqual(got, want) {
		t.Errorf("IdentityHeaders = %v, want %v", got, want)
	}
}
