package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// forged are identity fields that a client sends to impersonate someone. None may reach the
// upstream.
var forged = [][2]string{
	{"X-Tokengate-User", "mallory@example.com"},
	{"X_Tokengate_User", "mallory@example.com"},
	{"x-tokengate-token-id", "tok_forged"},
	{"X-Tokengate-Extra", "forged"},
}

func TestProxy_AllowedRequest(t *testing.T) {
	for _, name := range testEngines() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, name)
			headers := append([][2]string{{"Authorization", "Bearer " + userSecret}}, forged...)
			target := "/rest/api/v1/search?q=a%20b&x=%2F&y=%7e"
			resp, body := rawRequest(t, f.addr(t), "POST", target, headers)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
			}
			e := echo(t, body)
			if e.Path != "/rest/api/v1/search" {
				t.Errorf("upstream path = %q, want /rest/api/v1/search", e.Path)
			}
			if e.Query != "q=a%20b&x=%2F&y=%7e" {
				t.Errorf("upstream query = %q, want it byte for byte", e.Query)
			}
			want := map[string]string{
				"X-Tokengate-Token-Id":   "tok_user",
				"X-Tokengate-Permission": "USER",
				"X-Tokengate-Scope":      "SEARCH",
				"X-Tokengate-User":       "ann@example.com",
				"Authorization":          "Bearer [redacted]",
			}
			for k, v := range want {
				if got := e.Headers[k]; len(got) != 1 || got[0] != v {
					t.Errorf("upstream %s = %q, want [%q]", k, got, v)
				}
			}
			for _, k := range []string{"X_tokengate_user", "X-Tokengate-Extra", "X-Tokengate-Shadow-Reason"} {
				if got, ok := e.Headers[k]; ok {
					t.Errorf("upstream got %s = %q, want it removed", k, got)
				}
			}
		})
	}
}

func TestProxy_AnonymousHasNoUser(t *testing.T) {
	for _, name := range testEngines() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, name)
			headers := append([][2]string{{"Authorization", "Bearer " + anonSecret}}, forged...)
			resp, body := rawRequest(t, f.addr(t), "POST", "/rest/api/v1/search", headers)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
			}
			e := echo(t, body)
			if got, ok := e.Headers["X-Tokengate-User"]; ok {
				t.Errorf("upstream got X-Tokengate-User = %q for an ANONYMOUS token, want none", got)
			}
			if got := e.Headers["X-Tokengate-Permission"]; len(got) != 1 || got[0] != "ANONYMOUS" {
				t.Errorf("upstream X-Tokengate-Permission = %q, want [ANONYMOUS]", got)
			}
		})
	}
}

func TestProxy_Denials(t *testing.T) {
	cases := []struct {
		name      string
		target    string
		headers   [][2]string
		status    int
		reason    string
		challenge string
	}{
		{"missing token", "/rest/api/v1/search", nil, 401, "missing_token", `Bearer realm="glean"`},
		{"unknown token", "/rest/api/v1/search", [][2]string{{"Authorization", "Bearer not-a-known-token"}}, 401,
			"unknown_token", `Bearer realm="glean", error="invalid_token"`},
		{"scope missing", "/rest/api/v1/chat", [][2]string{{"Authorization", "Bearer " + userSecret}}, 403,
			"scope_missing", `Bearer realm="glean", error="insufficient_scope", scope="CHAT"`},
		{"actas required", "/rest/api/v1/search", [][2]string{{"Authorization", "Bearer " + globalSecret}}, 400,
			"actas_required", `Bearer realm="glean", error="invalid_request"`},
		{"act-as forbidden", "/rest/api/v1/search", [][2]string{{"Authorization", "Bearer " + userSecret}, {"X-Scio-ActAs", "bob@example.com"}},
			403, "actas_forbidden", ""},
		{"dot segment", "/rest/api/v1/chat/../search", [][2]string{{"Authorization", "Bearer " + userSecret}}, 400, "malformed_path", ""},
		{"encoded slash", "/rest/api/v1/chat%2F..%2Fsearch", [][2]string{{"Authorization", "Bearer " + userSecret}}, 400, "malformed_path", ""},
		{"absolute form", "http://example.com/rest/api/v1/search", [][2]string{{"Authorization", "Bearer " + userSecret}}, 400, "malformed_path", ""},
	}
	for _, name := range testEngines() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, name)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					resp, body := rawRequest(t, f.addr(t), "POST", c.target, c.headers)
					if resp.StatusCode != c.status {
						t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, c.status, body)
					}
					if got := resp.Header.Get("Content-Type"); got != "application/json" {
						t.Errorf("Content-Type = %q, want application/json", got)
					}
					if got := resp.Header.Get("Cache-Control"); got != "no-store" {
						t.Errorf("Cache-Control = %q, want no-store", got)
					}
					if got := resp.Header.Values("WWW-Authenticate"); c.challenge == "" && len(got) != 0 {
						t.Errorf("WWW-Authenticate = %q, want none", got)
					} else if c.challenge != "" && (len(got) != 1 || got[0] != c.challenge) {
						t.Errorf("WWW-Authenticate = %q, want [%q]", got, c.challenge)
					}
					m := denyBody(t, body)
					if m["reason"] != c.reason {
						t.Errorf("body reason = %q, want %q", m["reason"], c.reason)
					}
					if m["message"] == "" || m["error"] == "" {
						t.Errorf("body %s lacks error or message", body)
					}
					if strings.Contains(string(body), "glean_") {
						t.Errorf("body %s contains a token", body)
					}
				})
			}
		})
	}
}

func TestProxy_StripCredential(t *testing.T) {
	f := newFixture(t, "native", withStripCredential)
	resp, body := rawRequest(t, f.addr(t), "POST", "/rest/api/v1/search", [][2]string{{"Authorization", "Bearer " + userSecret}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
	}
	if got, ok := echo(t, body).Headers["Authorization"]; ok {
		t.Errorf("upstream got Authorization = %q, want it stripped", got)
	}
}

func TestProxy_ActAsPassesThrough(t *testing.T) {
	f := newFixture(t, "native")
	headers := [][2]string{{"Authorization", "Bearer " + globalSecret}, {"X-Scio-ActAs", "Bob@Example.com"}, {"X_Glean_ActAs", "eve@example.com"}}
	resp, body := rawRequest(t, f.addr(t), "POST", "/rest/api/v1/chat", headers)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
	}
	e := echo(t, body)
	if got := e.Headers["X-Scio-Actas"]; len(got) != 1 || got[0] != "Bob@Example.com" {
		t.Errorf("upstream X-Scio-ActAs = %q, want it unchanged", got)
	}
	if got, ok := e.Headers["X_glean_actas"]; ok {
		t.Errorf("upstream got X_Glean_ActAs = %q, want the '_' spelling removed", got)
	}
	if got := e.Headers["X-Tokengate-User"]; len(got) != 1 || got[0] != "bob@example.com" {
		t.Errorf("upstream X-Tokengate-User = %q, want [bob@example.com]", got)
	}
}

// TestProxy_ConnectionCannotDropDecisionFields checks that a client cannot make the proxy drop
// the credential or the act-as field as hop-by-hop after the decision used them.
func TestProxy_ConnectionCannotDropDecisionFields(t *testing.T) {
	f := newFixture(t, "native")
	headers := [][2]string{
		{"Authorization", "Bearer " + globalSecret},
		{"X-Scio-ActAs", "bob@example.com"},
		{"Connection", "keep-alive, Authorization, X-Scio-ActAs, X-Glean-ActAs"},
	}
	resp, body := rawRequest(t, f.addr(t), "POST", "/rest/api/v1/chat", headers)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
	}
	e := echo(t, body)
	if got := e.Headers["X-Scio-Actas"]; len(got) != 1 || got[0] != "bob@example.com" {
		t.Errorf("upstream X-Scio-ActAs = %q, want [bob@example.com]", got)
	}
	if _, ok := e.Headers["Authorization"]; !ok {
		t.Error("upstream got no Authorization field")
	}
	if got, ok := e.Headers["X-Glean-Actas"]; ok {
		t.Errorf("upstream got X-Glean-ActAs = %q, which the client never sent", got)
	}
	if got := e.Headers["X-Tokengate-User"]; len(got) != 1 || got[0] != "bob@example.com" {
		t.Errorf("upstream X-Tokengate-User = %q, want [bob@example.com]", got)
	}
}

func TestProxy_Shadow(t *testing.T) {
	f := newFixture(t, "native", withShadow)
	cases := []struct {
		name    string
		target  string
		headers [][2]string
		status  int
		reason  string
		tokenID string
	}{
		{"allowed", "/rest/api/v1/search", [][2]string{{"Authorization", "Bearer " + userSecret}}, 200, "ok", "tok_user"},
		{"scope missing", "/rest/api/v1/chat", [][2]string{{"Authorization", "Bearer " + userSecret}}, 200, "scope_missing", ""},
		{"missing token", "/rest/api/v1/search", nil, 200, "missing_token", ""},
		{"unmapped", "/rest/api/v1/getdocuments", [][2]string{{"Authorization", "Bearer " + userSecret}}, 404, "endpoint_unmapped", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := rawRequest(t, f.addr(t), "POST", c.target, append(c.headers, forged...))
			if resp.StatusCode != c.status {
				t.Fatalf("status = %d, want %d (the mock upstream's); body %s", resp.StatusCode, c.status, body)
			}
			if c.status != 200 {
				return
			}
			e := echo(t, body)
			if got := e.Headers["X-Tokengate-Shadow-Reason"]; len(got) != 1 || got[0] != c.reason {
				t.Errorf("upstream X-Tokengate-Shadow-Reason = %q, want [%q]", got, c.reason)
			}
			got := e.Headers["X-Tokengate-Token-Id"]
			if c.tokenID == "" && len(got) != 0 {
				t.Errorf("upstream X-Tokengate-Token-Id = %q, want none for a denial", got)
			}
			if c.tokenID != "" && (len(got) != 1 || got[0] != c.tokenID) {
				t.Errorf("upstream X-Tokengate-Token-Id = %q, want [%q]", got, c.tokenID)
			}
		})
	}
}

func TestProxy_UpstreamDown(t *testing.T) {
	f := newFixture(t, "native")
	f.upstream.Close()
	resp, body := rawRequest(t, f.addr(t), "POST", "/rest/api/v1/search?secret=x", [][2]string{{"Authorization", "Bearer " + userSecret}})
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status = %d, want 502; body %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if m := denyBody(t, body); m["error"] != "bad_gateway" {
		t.Errorf("body error = %q, want bad_gateway", m["error"])
	}
	for _, leak := range []string{userSecret, "tok_user", "secret=x"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("body %s contains %q", body, leak)
		}
		if strings.Contains(f.logs.String(), leak) && leak != "tok_user" {
			t.Errorf("log contains %q:\n%s", leak, f.logs.String())
		}
	}
	if !strings.Contains(f.logs.String(), "upstream request failed") {
		t.Errorf("log lacks the upstream failure:\n%s", f.logs.String())
	}
}

func TestProxy_EngineError(t *testing.T) {
	f := newFixture(t, failingEngine)
	resp, body := rawRequest(t, f.addr(t), "POST", "/rest/api/v1/search", [][2]string{{"Authorization", "Bearer " + userSecret}})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503; body %s", resp.StatusCode, body)
	}
	if m := denyBody(t, body); m["reason"] != engineErrorReason {
		t.Errorf("body reason = %q, want %q", m["reason"], engineErrorReason)
	}
	if !strings.Contains(f.logs.String(), "guest trapped") {
		t.Errorf("log lacks the engine error:\n%s", f.logs.String())
	}
}

func TestProxy_NotConfigured(t *testing.T) {
	f := newFixture(t, "native")
	f.gw.Close()
	resp, body := rawRequest(t, f.addr(t), "POST", "/rest/api/v1/search", [][2]string{{"Authorization", "Bearer " + userSecret}})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503; body %s", resp.StatusCode, body)
	}
	if m := denyBody(t, body); m["reason"] != "not_configured" {
		t.Errorf("body reason = %q, want not_configured", m["reason"])
	}
	if got := resp.Header.Values("WWW-Authenticate"); len(got) != 0 {
		t.Errorf("WWW-Authenticate = %q, want none on 503", got)
	}
}

func TestProxy_RequestLogHasNoSecret(t *testing.T) {
	f := newFixture(t, "native")
	rawRequest(t, f.addr(t), "POST", "/rest/api/v1/search?q=private", [][2]string{{"Authorization", "Bearer " + userSecret}})
	rawRequest(t, f.addr(t), "POST", "/rest/api/v1/chat", [][2]string{{"Authorization", "Bearer " + userSecret}})
	logs := f.logs.String()
	for _, want := range []string{`"msg":"request"`, `"path":"/rest/api/v1/search"`, `"reason":"scope_missing"`, `"token_id":"tok_user"`, `"latency_ms"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	for _, leak := range []string{userSecret, "Bearer", "q=private"} {
		if strings.Contains(logs, leak) {
			t.Errorf("log contains %q:\n%s", leak, logs)
		}
	}
}

func TestProxy_OpsPrefixNotForwarded(t *testing.T) {
	f := newFixture(t, "native")
	resp, body := rawRequest(t, f.addr(t), "GET", "/_tokengate/other", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status = %d, want 404; body %s", resp.StatusCode, body)
	}
	if m := denyBody(t, body); m["error"] != "not_found" {
		t.Errorf("body error = %q, want not_found", m["error"])
	}
}

func TestSetRawTarget(t *testing.T) {
	cases := []struct {
		name     string
		upstream string
		target   string
		want     string
	}{
		{"plain", "http://u:1", "/a/b?x=%2F", "/a/b?x=%2F"},
		{"base path", "http://u:1/base", "/a%20b", "/base/a%20b"},
		{"empty query kept", "http://u:1", "/a?", "/a?"},
		{"leading empty segment", "http://u:1", "//a", "http://u:1//a"},
		{"encoded bytes kept", "http://u:1", "/a/%7e%2e", "/a/%7e%2e"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			up, err := ParseUpstream(c.upstream)
			if err != nil {
				t.Fatal(err)
			}
			var u url.URL
			setRawTarget(&u, up, c.target)
			if got := u.RequestURI(); got != c.want {
				t.Errorf("request URI = %q, want %q", got, c.want)
			}
			if u.Host != up.Host {
				t.Errorf("host = %q, want %q", u.Host, up.Host)
			}
		})
	}
}
