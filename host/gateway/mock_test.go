package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/policyfile"
)

func TestMockUpstream_Answers(t *testing.T) {
	policy, err := policyfile.Load("../../scopes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewMockUpstream(func() *core.Policy { return policy }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	cases := []struct {
		name     string
		method   string
		target   string
		headers  [][2]string
		status   int
		endpoint string
	}{
		{"mapped", "POST", "/rest/api/v1/search?q=1", nil, 200, "POST /search"},
		{"pattern", "GET", "/rest/api/v1/people/p1/photo", nil, 200, "GET /people/{person_id}/photo"},
		{"preflight", "OPTIONS", "/rest/api/v1/chat", [][2]string{{"Origin", "https://app.example.com"}, {"Access-Control-Request-Method", "POST"}}, 200, "POST /chat"},
		{"unmapped", "POST", "/rest/api/v1/getdocuments", nil, 404, ""},
		{"wrong method", "GET", "/rest/api/v1/search", nil, 404, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := rawRequest(t, u.Host, c.method, c.target, append(c.headers, [2]string{"Authorization", "Bearer " + userSecret}))
			if resp.StatusCode != c.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, c.status, body)
			}
			if c.status != http.StatusOK {
				return
			}
			e := echo(t, body)
			if e.Endpoint != c.endpoint {
				t.Errorf("endpoint = %q, want %q", e.Endpoint, c.endpoint)
			}
			if e.Method != c.method {
				t.Errorf("method = %q, want %q", e.Method, c.method)
			}
			if got := e.Headers["Authorization"]; len(got) != 1 || got[0] != "Bearer [redacted]" {
				t.Errorf("echoed Authorization = %q, want the credential redacted", got)
			}
			if got := e.Headers["Host"]; len(got) != 1 || got[0] != u.Host {
				t.Errorf("echoed Host = %q, want [%q]", got, u.Host)
			}
		})
	}
}

func TestOriginFormTarget(t *testing.T) {
	cases := map[string]string{
		"/a?b":               "/a?b",
		"http://h:1//a?b":    "//a?b",
		"http://h:1":         "/",
		"*":                  "*",
		"https://h/x/y%2Fz?": "/x/y%2Fz?",
	}
	for in, want := range cases {
		if got := originFormTarget(in); got != want {
			t.Errorf("originFormTarget(%q) = %q, want %q", in, got, want)
		}
	}
}
