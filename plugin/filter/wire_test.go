//go:build !wasm

package filter_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/plugin/emulator"
)

func TestFilter_AllowedRequestCarriesIdentity(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		path      string
		headers   []core.Header
		tokenID   string
		perm      string
		scope     string
		user      string
		wantActAs string
	}{
		{
			name: "global token acts as a user", method: "POST", path: apiBase + "/search",
			headers: []core.Header{bearer("tok_global"), header("X-Scio-ActAs", "Dana@Example.com")},
			tokenID: "tok_global", perm: "GLOBAL", scope: "SEARCH", user: "dana@example.com", wantActAs: "Dana@Example.com",
		},
		{
			name: "user token with a query", method: "POST", path: apiBase + "/search?q=a%20b&x=%2F",
			headers: []core.Header{bearer("tok_user")},
			tokenID: "tok_user", perm: "USER", scope: "SEARCH", user: "ann@example.com",
		},
		{
			name: "anonymous token on search", method: "POST", path: apiBase + "/search",
			headers: []core.Header{bearer("tok_anon")},
			tokenID: "tok_anon", perm: "ANONYMOUS", scope: "SEARCH",
		},
	}
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		h := start(t, vm, config(t, options{}))
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := send(t, h, tt.method, tt.path, tt.headers...)
				mustForward(t, res)
				if got := only(t, res, ":path"); got != tt.path {
					t.Errorf(":path = %q, want it unchanged as %q", got, tt.path)
				}
				if got := only(t, res, core.HeaderTokenID); got != tt.tokenID {
					t.Errorf("%s = %q, want %q", core.HeaderTokenID, got, tt.tokenID)
				}
				if got := only(t, res, core.HeaderPermission); got != tt.perm {
					t.Errorf("%s = %q, want %q", core.HeaderPermission, got, tt.perm)
				}
				if got := only(t, res, core.HeaderScope); got != tt.scope {
					t.Errorf("%s = %q, want %q", core.HeaderScope, got, tt.scope)
				}
				users := res.Header(core.HeaderUser)
				switch {
				case tt.user == "" && len(users) != 0:
					t.Errorf("%s = %q, want none", core.HeaderUser, users)
				case tt.user != "" && (len(users) != 1 || users[0] != tt.user):
					t.Errorf("%s = %q, want %q", core.HeaderUser, users, tt.user)
				}
				if got := only(t, res, "Authorization"); got != "Bearer "+fx.secrets[tt.tokenID] {
					t.Errorf("Authorization was changed to %q", got)
				}
				if tt.wantActAs != "" {
					if got := only(t, res, "X-Scio-ActAs"); got != tt.wantActAs {
						t.Errorf("X-Scio-ActAs = %q, want it unchanged as %q", got, tt.wantActAs)
					}
				}
			})
		}
	})
}

func TestFilter_StripCredential(t *testing.T) {
	spec := fx.policy.Spec()
	spec.StripCredential = true
	tests := []struct {
		name   string
		config func(t *testing.T) []byte
	}{
		{"by the filter option", func(t *testing.T) []byte { return config(t, options{strip: true}) }},
		{"by the policy", func(t *testing.T) []byte { return configFor(t, bundle(t, spec, fx.tokens), options{}) }},
	}
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := start(t, vm, tt.config(t))
				res := send(t, h, "POST", apiBase+"/search", bearer("tok_user"))
				mustForward(t, res)
				if got := res.Header("Authorization"); len(got) != 0 {
					t.Errorf("Authorization = %q, want it removed", got)
				}
				if got := only(t, res, core.HeaderTokenID); got != "tok_user" {
					t.Errorf("%s = %q, want tok_user", core.HeaderTokenID, got)
				}
				h.Close()
			})
		}
	})
}

// forgedNames are spellings of reserved names a client might send.
var forgedNames = []string{
	"X-Tokengate-User",
	"x-tokengate-user",
	"X-TOKENGATE-TOKEN-ID",
	"X-Tokengate-Permission",
	"X-Tokengate-Scope",
	"X-Tokengate-Shadow-Reason",
	"X-Tokengate-Anything",
	"X_Tokengate_User",
	"x_tokengate_token_id",
	"X_TOKENGATE_SCOPE",
	"X_Scio_ActAs",
	"x_glean_actas",
}

const forgedValue = "mallory@evil.example"

func TestFilter_ForgedIdentityNeverForwarded(t *testing.T) {
	spec := fx.policy.Spec()
	spec.Endpoints = append(spec.Endpoints, core.Endpoint{Method: "GET", Path: "/status", Public: true})
	publicBundle := bundle(t, spec, fx.tokens)

	scenarios := []struct {
		name    string
		opts    options
		bundle  []byte
		method  string
		path    string
		headers []core.Header
		user    string // the X-Tokengate-User the filter must set, if any
	}{
		{name: "allowed request", method: "POST", path: apiBase + "/search", headers: []core.Header{bearer("tok_user")}, user: "ann@example.com"},
		{name: "allowed request without a user", method: "POST", path: apiBase + "/search", headers: []core.Header{bearer("tok_anon")}},
		{name: "cors preflight", method: "OPTIONS", path: apiBase + "/search", headers: preflight()},
		{name: "public endpoint", bundle: publicBundle, method: "GET", path: apiBase + "/status"},
		{name: "shadow mode allowed", opts: options{shadow: true}, method: "POST", path: apiBase + "/search", headers: []core.Header{bearer("tok_user")}, user: "ann@example.com"},
		{name: "shadow mode denied", opts: options{shadow: true}, method: "POST", path: apiBase + "/search"},
		{name: "shadow mode preflight", opts: options{shadow: true}, method: "OPTIONS", path: apiBase + "/chat", headers: preflight()},
	}
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		for _, sc := range scenarios {
			t.Run(sc.name, func(t *testing.T) {
				b := sc.bundle
				if b == nil {
					b = bundle(t, fx.policy.Spec(), fx.tokens)
				}
				h := start(t, vm, configFor(t, b, sc.opts))
				headers := append([]core.Header(nil), sc.headers...)
				for _, name := range forgedNames {
					// Each forged field twice, to catch a removal that drops only one.
					headers = append(headers, header(name, forgedValue), header(name, forgedValue))
				}
				res := send(t, h, sc.method, sc.path, headers...)
				mustForward(t, res)
				for _, kv := range res.Forwarded {
					if kv[1] == forgedValue {
						t.Errorf("forged field %s: %s reached upstream", kv[0], kv[1])
					}
					if strings.Contains(kv[0], "_") {
						t.Errorf("underscore field %s reached upstream", kv[0])
					}
				}
				users := res.Header(core.HeaderUser)
				switch {
				case sc.user == "" && len(users) != 0:
					t.Errorf("%s = %q, want none", core.HeaderUser, users)
				case sc.user != "" && (len(users) != 1 || users[0] != sc.user):
					t.Errorf("%s = %q, want only %q", core.HeaderUser, users, sc.user)
				}
				h.Close()
			})
		}
	})
}

func TestFilter_DenialChallenges(t *testing.T) {
	const (
		bare         = `Bearer realm="glean"`
		invalidToken = `Bearer realm="glean", error="invalid_token"`
		invalidReq   = `Bearer realm="glean", error="invalid_request"`
		scopeOnly    = `Bearer realm="glean", error="insufficient_scope"`
	)
	search := apiBase + "/search"
	tests := []struct {
		name      string
		method    string
		path      string
		headers   []core.Header
		status    int
		reason    core.Reason
		challenge string // "" means no WWW-Authenticate field
	}{
		{"malformed path", "POST", apiBase + "/../search", []core.Header{bearer("tok_user")}, 400, core.ReasonMalformedPath, ""},
		{"missing token", "POST", search, nil, 401, core.ReasonMissingToken, bare},
		{"multiple authorization", "POST", search, []core.Header{bearer("tok_user"), bearer("tok_anon")}, 400, core.ReasonMultipleAuthorization, invalidReq},
		{"unsupported scheme", "POST", search, []core.Header{header("Authorization", "Basic YWxhZGRpbjpvcGVu")}, 401, core.ReasonUnsupportedScheme, bare},
		{"malformed authorization", "POST", search, []core.Header{header("Authorization", "Bearer a,b")}, 400, core.ReasonMalformedAuthorization, invalidReq},
		{"malformed token", "POST", search, []core.Header{header("Authorization", "Bearer glean_tooshort")}, 401, core.ReasonMalformedToken, invalidToken},
		{"unknown token", "POST", search, []core.Header{header("Authorization", "Bearer imported-token-value")}, 401, core.ReasonUnknownToken, invalidToken},
		{"revoked token", "POST", search, []core.Header{bearer("tok_revoked")}, 401, core.ReasonRevokedToken, invalidToken},
		{"expired token", "POST", search, []core.Header{bearer("tok_expired")}, 401, core.ReasonExpiredToken, invalidToken},
		{"ambiguous act-as", "POST", search, []core.Header{bearer("tok_global"), header("X-Scio-ActAs", "a@example.com"), header("X-Glean-ActAs", "b@example.com")}, 400, core.ReasonAmbiguousActAs, invalidReq},
		{"act-as required", "POST", search, []core.Header{bearer("tok_global")}, 400, core.ReasonActAsRequired, invalidReq},
		{"act-as invalid", "POST", search, []core.Header{bearer("tok_global"), header("X-Scio-ActAs", "Ann <ann@example.com>")}, 400, core.ReasonActAsInvalid, invalidReq},
		{"act-as domain forbidden", "POST", search, []core.Header{bearer("tok_global_dom"), header("X-Scio-ActAs", "ann@other.example")}, 403, core.ReasonActAsDomainForbidden, ""},
		{"act-as forbidden", "POST", search, []core.Header{bearer("tok_user"), header("X-Glean-ActAs", "bob@example.com")}, 403, core.ReasonActAsForbidden, ""},
		{"endpoint unmapped", "POST", apiBase + "/createauthtoken", []core.Header{bearer("tok_all")}, 403, core.ReasonEndpointUnmapped, scopeOnly},
		{"anonymous not allowed", "POST", apiBase + "/chat", []core.Header{bearer("tok_anon")}, 403, core.ReasonAnonymousNotAllowed, scopeOnly},
		{"scope missing", "POST", apiBase + "/chat", []core.Header{bearer("tok_user")}, 403, core.ReasonScopeMissing, `Bearer realm="glean", error="insufficient_scope", scope="CHAT"`},
	}
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		h := start(t, vm, config(t, options{}))
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := send(t, h, tt.method, tt.path, tt.headers...)
				mustDeny(t, res, tt.status, tt.reason)
				got := res.Reply.Header("WWW-Authenticate")
				switch {
				case tt.challenge == "" && len(got) != 0:
					t.Errorf("WWW-Authenticate = %q, want none", got)
				case tt.challenge != "" && (len(got) != 1 || got[0] != tt.challenge):
					t.Errorf("WWW-Authenticate = %q, want exactly %q", got, tt.challenge)
				}
				checkReplyFormat(t, res.Reply, tt.reason)
			})
		}
	})
}

func TestFilter_ChallengeUsesPolicyRealm(t *testing.T) {
	spec := fx.policy.Spec()
	spec.Realm = "client-api"
	tests := []struct {
		name      string
		path      string
		headers   []core.Header
		status    int
		reason    core.Reason
		challenge string
	}{
		{"missing token", apiBase + "/search", nil, 401, core.ReasonMissingToken, `Bearer realm="client-api"`},
		{"unknown token", apiBase + "/search", []core.Header{header("Authorization", "Bearer imported-token-value")}, 401, core.ReasonUnknownToken, `Bearer realm="client-api", error="invalid_token"`},
		{"scope missing", apiBase + "/chat", []core.Header{bearer("tok_user")}, 403, core.ReasonScopeMissing, `Bearer realm="client-api", error="insufficient_scope", scope="CHAT"`},
	}
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		h := start(t, vm, configFor(t, bundle(t, spec, fx.tokens), options{}))
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := send(t, h, "POST", tt.path, tt.headers...)
				mustDeny(t, res, tt.status, tt.reason)
				if got := res.Reply.Header("WWW-Authenticate"); len(got) != 1 || got[0] != tt.challenge {
					t.Errorf("WWW-Authenticate = %q, want exactly %q", got, tt.challenge)
				}
			})
		}
	})
}

// checkReplyFormat checks the fixed parts of every local reply.
func checkReplyFormat(t *testing.T, reply *emulator.Reply, reason core.Reason) {
	t.Helper()
	if got := reply.Header("Content-Type"); len(got) != 1 || got[0] != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := reply.Header("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	var body map[string]string
	if err := json.Unmarshal(reply.Body, &body); err != nil {
		t.Fatalf("body %q is not a JSON object of strings: %v", reply.Body, err)
	}
	if len(body) != 3 {
		t.Errorf("body has fields %v, want error, reason and message", body)
	}
	if body["reason"] != reason.String() {
		t.Errorf("body reason = %q, want %q", body["reason"], reason)
	}
	if body["error"] != reason.ErrorCode() {
		t.Errorf("body error = %q, want %q", body["error"], reason.ErrorCode())
	}
	if body["message"] == "" {
		t.Error("body message is empty")
	}
}

func TestFilter_RepeatedAuthorizationCountsEveryField(t *testing.T) {
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		h := start(t, vm, config(t, options{}))
		// A single-value getter would see only the first, valid field.
		res := send(t, h, "POST", apiBase+"/search", bearer("tok_user"), header("authorization", "Bearer glean_other"))
		mustDeny(t, res, 400, core.ReasonMultipleAuthorization)
	})
}

func TestFilter_PseudoHeadersNotRequestHeaders(t *testing.T) {
	tests := []struct {
		name  string
		pairs [][2]string
	}{
		{"pseudo-header named like authorization", [][2]string{{":method", "POST"}, {":path", apiBase + "/search"}, {":authorization", "Bearer " + fx.secrets["tok_user"]}}},
		{"no path", [][2]string{{":method", "POST"}, {"authorization", "Bearer " + fx.secrets["tok_user"]}}},
		{"two paths", [][2]string{{":method", "POST"}, {":path", apiBase + "/search"}, {":path", apiBase + "/chat"}, {"authorization", "Bearer " + fx.secrets["tok_user"]}}},
	}
	wantReason := []core.Reason{core.ReasonMissingToken, core.ReasonMalformedPath, core.ReasonMalformedPath}
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		h := start(t, vm, config(t, options{}))
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := sendPairs(t, h, tt.pairs)
				mustDeny(t, res, wantReason[i].Status(), wantReason[i])
			})
		}
	})
}

func TestFilter_SecretNeverWritten(t *testing.T) {
	secret := fx.secrets["tok_user"]
	tests := []struct {
		name    string
		opts    options
		method  string
		path    string
		headers []core.Header
	}{
		{name: "allowed", method: "POST", path: apiBase + "/search", headers: []core.Header{bearer("tok_user")}},
		{name: "allowed and stripped", opts: options{strip: true}, method: "POST", path: apiBase + "/search", headers: []core.Header{bearer("tok_user")}},
		{name: "scope missing", method: "POST", path: apiBase + "/chat", headers: []core.Header{bearer("tok_user")}},
		{name: "secret in the path", method: "POST", path: apiBase + "/" + secret, headers: []core.Header{bearer("tok_user")}},
		{name: "secret in the query", method: "POST", path: apiBase + "/chat?token=" + secret, headers: []core.Header{bearer("tok_user")}},
		{name: "secret as the method", method: secret, path: apiBase + "/search", headers: []core.Header{bearer("tok_user")}},
		{name: "secret without a scheme", method: "POST", path: apiBase + "/" + secret, headers: []core.Header{header("Authorization", secret)}},
		{name: "secret in a malformed path", method: "POST", path: apiBase + "//" + secret, headers: []core.Header{bearer("tok_user")}},
		{name: "two credentials", method: "POST", path: apiBase + "/" + secret, headers: []core.Header{bearer("tok_anon"), bearer("tok_user")}},
		{name: "shadow mode denial", opts: options{shadow: true}, method: "POST", path: apiBase + "/" + secret + "/x", headers: []core.Header{bearer("tok_user")}},
	}
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := start(t, vm, config(t, tt.opts))
				res := send(t, h, tt.method, tt.path, tt.headers...)
				for _, l := range h.Logs() {
					for _, line := range l {
						if strings.Contains(line, secret) {
							t.Errorf("log line contains the secret: %s", line)
						}
					}
				}
				if res.Reply != nil {
					if strings.Contains(string(res.Reply.Body), secret) {
						t.Errorf("reply body contains the secret: %s", res.Reply.Body)
					}
					for _, kv := range res.Reply.Headers {
						if strings.Contains(kv[1], secret) {
							t.Errorf("reply field %s contains the secret", kv[0])
						}
					}
				}
				// The client's own :path and Authorization pass through; every field the
				// filter writes is reserved.
				for _, kv := range res.Forwarded {
					if core.IsReservedHeader(kv[0]) && strings.Contains(kv[1], secret) {
						t.Errorf("forwarded field %s contains the secret", kv[0])
					}
				}
				if tt.opts.strip && len(res.Header("Authorization")) != 0 {
					t.Errorf("Authorization was forwarded with strip_credential set")
				}
				h.Close()
			})
		}
	})
}
