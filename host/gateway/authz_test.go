package gateway

import (
	"net/http"
	"strings"
	"testing"
)

func TestAuthz_Decisions(t *testing.T) {
	nginx := func(method, uri string) [][2]string {
		return [][2]string{{"X-Original-Method", method}, {"X-Original-URI", uri}}
	}
	caddy := func(method, uri string) [][2]string {
		return [][2]string{{"X-Forwarded-Method", method}, {"X-Forwarded-Uri", uri}}
	}
	bearer := func(secret string) [2]string { return [2]string{"Authorization", "Bearer " + secret} }
	cases := []struct {
		name      string
		headers   [][2]string
		status    int
		reason    string
		challenge string
		identity  map[string]string
	}{
		{"nginx allowed", append(nginx("POST", "/rest/api/v1/search?q=1"), bearer(userSecret)), 200, "", "",
			map[string]string{"X-Tokengate-Token-Id": "tok_user", "X-Tokengate-Permission": "USER", "X-Tokengate-Scope": "SEARCH", "X-Tokengate-User": "ann@example.com"}},
		{"caddy allowed", append(caddy("POST", "/rest/api/v1/search"), bearer(userSecret)), 200, "", "",
			map[string]string{"X-Tokengate-Token-Id": "tok_user", "X-Tokengate-User": "ann@example.com"}},
		{"anonymous has no user", append(caddy("POST", "/rest/api/v1/search"), bearer(anonSecret)), 200, "", "",
			map[string]string{"X-Tokengate-Permission": "ANONYMOUS", "X-Tokengate-User": ""}},
		{"global acts as", append(nginx("POST", "/rest/api/v1/chat"), bearer(globalSecret), [2]string{"X-Glean-ActAs", "Dana@Example.com"}), 200, "", "",
			map[string]string{"X-Tokengate-User": "dana@example.com", "X-Tokengate-Scope": "CHAT"}},
		{"method is the original one", append(nginx("GET", "/rest/api/v1/search"), bearer(userSecret)), 403, "endpoint_unmapped",
			`Bearer realm="glean", error="insufficient_scope"`, nil},
		{"missing token", nginx("POST", "/rest/api/v1/search"), 401, "missing_token", `Bearer realm="glean"`, nil},
		{"scope missing", append(caddy("POST", "/rest/api/v1/chat"), bearer(userSecret)), 403, "scope_missing",
			`Bearer realm="glean", error="insufficient_scope", scope="CHAT"`, nil},
		{"malformed path", append(nginx("POST", "/rest/api/v1//search"), bearer(userSecret)), 400, "malformed_path", "", nil},
		{"no original request", [][2]string{bearer(userSecret)}, 400, authzInvalidReason, "", nil},
		{"uri without method", append([][2]string{{"X-Original-URI", "/rest/api/v1/search"}}, bearer(userSecret)), 400, authzInvalidReason, "", nil},
		{"repeated uri", append(nginx("POST", "/rest/api/v1/search"), [2]string{"X-Original-URI", "/rest/api/v1/chat"}, bearer(userSecret)), 400, authzInvalidReason, "", nil},
		{"pairs disagree", append(append(nginx("POST", "/rest/api/v1/search"), caddy("POST", "/rest/api/v1/chat")...), bearer(userSecret)), 400, authzInvalidReason, "", nil},
		{"pairs agree", append(append(nginx("POST", "/rest/api/v1/search"), caddy("POST", "/rest/api/v1/search")...), bearer(userSecret)), 200, "", "",
			map[string]string{"X-Tokengate-Token-Id": "tok_user"}},
	}
	for _, name := range testEngines() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, name)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					resp, body := rawRequest(t, f.addr(t), "GET", AuthzPath, append(c.headers, forged...))
					if resp.StatusCode != c.status {
						t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, c.status, body)
					}
					if got := resp.Header.Get("Cache-Control"); got != "no-store" {
						t.Errorf("Cache-Control = %q, want no-store", got)
					}
					for k, v := range c.identity {
						if got := resp.Header.Values(k); v == "" && len(got) != 0 {
							t.Errorf("%s = %q, want none", k, got)
						} else if v != "" && (len(got) != 1 || got[0] != v) {
							t.Errorf("%s = %q, want [%q]", k, got, v)
						}
					}
					if c.status == 200 {
						if len(body) != 0 {
							t.Errorf("allowed body = %q, want empty", body)
						}
						return
					}
					if got := resp.Header.Values("WWW-Authenticate"); c.challenge == "" && len(got) != 0 {
						t.Errorf("WWW-Authenticate = %q, want none", got)
					} else if c.challenge != "" && (len(got) != 1 || got[0] != c.challenge) {
						t.Errorf("WWW-Authenticate = %q, want [%q]", got, c.challenge)
					}
					if got := resp.Header.Values("X-Tokengate-Token-Id"); len(got) != 0 {
						t.Errorf("denial carries X-Tokengate-Token-Id = %q", got)
					}
					m := denyBody(t, body)
					if m["reason"] != c.reason {
						t.Errorf("body reason = %q, want %q", m["reason"], c.reason)
					}
					if strings.Contains(string(body), "glean_") {
						t.Errorf("body %s contains a token", body)
					}
				})
			}
		})
	}
}

func TestAuthz_Shadow(t *testing.T) {
	f := newFixture(t, "native", withShadow)
	headers := [][2]string{{"X-Original-Method", "POST"}, {"X-Original-URI", "/rest/api/v1/chat"}, {"Authorization", "Bearer " + userSecret}}
	resp, body := rawRequest(t, f.addr(t), "GET", AuthzPath, headers)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200 in shadow mode; body %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Tokengate-Shadow-Reason"); got != "scope_missing" {
		t.Errorf("X-Tokengate-Shadow-Reason = %q, want scope_missing", got)
	}
	if got := resp.Header.Values("X-Tokengate-Token-Id"); len(got) != 0 {
		t.Errorf("X-Tokengate-Token-Id = %q, want none for a denial", got)
	}
}

func TestAuthz_EngineError(t *testing.T) {
	f := newFixture(t, failingEngine)
	headers := [][2]string{{"X-Original-Method", "POST"}, {"X-Original-URI", "/rest/api/v1/search"}, {"Authorization", "Bearer " + userSecret}}
	resp, body := rawRequest(t, f.addr(t), "GET", AuthzPath, headers)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503; body %s", resp.StatusCode, body)
	}
	if got := resp.Header.Values("X-Tokengate-Token-Id"); len(got) != 0 {
		t.Errorf("X-Tokengate-Token-Id = %q, want none", got)
	}
}

func TestOriginalRequest_Errors(t *testing.T) {
	cases := []struct {
		name   string
		header http.Header
		want   string
	}{
		{"none", http.Header{}, "missing X-Original-Method"},
		{"empty method", http.Header{"X-Original-Method": {""}, "X-Original-Uri": {"/a"}}, "X-Original-Method"},
		{"two forwarded uris", http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/a", "/b"}}, "X-Forwarded-Uri field, got 2"},
		{"methods disagree", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/a"}, "X-Forwarded-Method": {"POST"}, "X-Forwarded-Uri": {"/a"}}, "different requests"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := originalRequest(c.header)
			if err == nil {
				t.Fatal("originalRequest succeeded, want an error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %q, want it to mention %q", err, c.want)
			}
		})
	}
}
