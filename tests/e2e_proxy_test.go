package tests

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/host/conformance"
)

// Addresses in the shipped nginx.conf and Caddyfile that the tests rewrite to free ports.
const (
	exampleTokengateAddr = "127.0.0.1:8080"
	exampleUpstreamAddr  = "127.0.0.1:9000"
)

// proxyCase is one request sent through nginx or Caddy and what the client must get back.
type proxyCase struct {
	name      string
	target    string
	token     string // token id from the conformance file; "" sends no Authorization
	extra     [][2]string
	status    int
	reason    string            // for denials
	challenge string            // for denials; "" means none
	identity  map[string]string // for allowed requests; "" means the field must be absent
}

var proxyCases = []proxyCase{
	{name: "user token allowed", target: "/rest/api/v1/search?q=a%20b", token: "tok_user", status: 200,
		identity: map[string]string{"X-Tokengate-Token-Id": "tok_user", "X-Tokengate-Permission": "USER",
			"X-Tokengate-Scope": "SEARCH", "X-Tokengate-User": "ann@example.com"}},
	{name: "anonymous token allowed", target: "/rest/api/v1/search", token: "tok_anon", status: 200,
		identity: map[string]string{"X-Tokengate-Token-Id": "tok_anon", "X-Tokengate-Permission": "ANONYMOUS",
			"X-Tokengate-User": ""}},
	{name: "global token acts as", target: "/rest/api/v1/chat", token: "tok_global", extra: [][2]string{{"X-Scio-ActAs", "Dana@Example.com"}},
		status: 200, identity: map[string]string{"X-Tokengate-User": "dana@example.com", "X-Tokengate-Scope": "CHAT"}},
	{name: "missing token", target: "/rest/api/v1/search", status: 401, reason: "missing_token", challenge: `Bearer realm="glean"`},
	{name: "expired token", target: "/rest/api/v1/search", token: "tok_expired", status: 401, reason: "expired_token",
		challenge: `Bearer realm="glean", error="invalid_token"`},
	{name: "scope missing", target: "/rest/api/v1/chat", token: "tok_user", status: 403, reason: "scope_missing",
		challenge: `Bearer realm="glean", error="insufficient_scope", scope="CHAT"`},
	{name: "act-as forbidden", target: "/rest/api/v1/search", token: "tok_user", extra: [][2]string{{"X-Glean-ActAs", "bob@example.com"}},
		status: 403, reason: "actas_forbidden"},
	{name: "act-as required", target: "/rest/api/v1/search", token: "tok_global", status: 400, reason: "actas_required",
		challenge: `Bearer realm="glean", error="invalid_request"`},
}

// proxyForged are fields a client sends to forge identity or to have a different request
// decided: every field that tokengate sets, and a '_' spelling. None may reach the upstream or
// change the decision. Each value is unique, so the upstream's echo shows which one leaked.
var proxyForged = [][2]string{
	{"X-Tokengate-User", "mallory@example.com"},
	{"X_Tokengate_User", "mallory-underscore@example.com"},
	{"X-Tokengate-Token-Id", "tok_forged"},
	{"X-Tokengate-Permission", "forged-permission"},
	{"X-Tokengate-Scope", "forged-scope"},
	{"X-Tokengate-Shadow-Reason", "forged-shadow-reason"},
}

// proxyForgedOtherNames are client fields with the X-Tokengate- prefix (or a '_' spelling of
// it) that tokengate never sets, so a proxy can only remove them by prefix.
var proxyForgedOtherNames = [][2]string{
	{"X-Tokengate-Debug", "forged-debug"},
	{"X-Tokengate_Debug", "forged-debug-underscore"},
}

// runProxyCases sends every proxy case to addr with the forged fields and checks the
// responses.
func runProxyCases(t *testing.T, addr string, f *conformance.File, forged [][2]string) {
	t.Helper()
	for _, c := range proxyCases {
		t.Run(c.name, func(t *testing.T) {
			headers := append([][2]string{}, forged...)
			if c.token != "" {
				headers = append(headers, [2]string{"Authorization", "Bearer " + f.Secrets[c.token]})
			}
			headers = append(headers, c.extra...)
			resp, body := rawRequest(t, addr, "POST", c.target, headers)
			if resp.StatusCode != c.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, c.status, body)
			}
			if c.status == 200 {
				checkProxyForwarded(t, c, body, forged)
				return
			}
			checkProxyDenial(t, c, resp.Header.Values("WWW-Authenticate"), resp.Header.Get("Content-Type"), body)
		})
	}
}

func checkProxyForwarded(t *testing.T, c proxyCase, body []byte, forged [][2]string) {
	t.Helper()
	var e echoBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("allowed request answered by something other than the mock upstream: %v\n%s", err, body)
	}
	path, query, _ := strings.Cut(c.target, "?")
	if e.Path != path || e.Query != query {
		t.Errorf("upstream got path %q query %q, want %q and %q", e.Path, e.Query, path, query)
	}
	for name, want := range c.identity {
		got := e.Headers[name]
		if want == "" && len(got) != 0 {
			t.Errorf("upstream %s = %q, want none", name, got)
		}
		if want != "" && (len(got) != 1 || got[0] != want) {
			t.Errorf("upstream %s = %q, want [%q]", name, got, want)
		}
	}
	for name, values := range e.Headers {
		if strings.EqualFold(strings.ReplaceAll(name, "_", "-"), "X-Tokengate-User") && name != "X-Tokengate-User" {
			t.Errorf("upstream got %s = %q, want the '_' spelling removed", name, values)
		}
		for _, v := range values {
			for _, f := range forged {
				if v == f[1] {
					t.Errorf("upstream got %s = %q, forged by the client as %s", name, v, f[0])
				}
			}
		}
	}
}

func checkProxyDenial(t *testing.T, c proxyCase, challenges []string, contentType string, body []byte) {
	t.Helper()
	if contentType != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", contentType)
	}
	if c.challenge == "" && len(challenges) != 0 {
		t.Errorf("WWW-Authenticate = %q, want none", challenges)
	}
	if c.challenge != "" && (len(challenges) != 1 || challenges[0] != c.challenge) {
		t.Errorf("WWW-Authenticate = %q, want exactly [%q]", challenges, c.challenge)
	}
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("denial body is not tokengate's JSON: %v\n%s", err, body)
	}
	if m["reason"] != c.reason {
		t.Errorf("body reason = %q, want %q", m["reason"], c.reason)
	}
	if m["message"] == "" {
		t.Error("body has no message")
	}
}

// exampleConfig reads a shipped example and replaces its addresses. It fails when an
// address is missing, so a changed example cannot silently leave the test on its own ports.
func exampleConfig(t *testing.T, name string, replace map[string]string) string {
	t.Helper()
	data, err := os.ReadFile(examplesDir + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(data)
	for from, to := range replace {
		if !strings.Contains(conf, from) {
			t.Fatalf("%s no longer contains %s", name, from)
		}
		conf = strings.ReplaceAll(conf, from, to)
	}
	return conf
}
