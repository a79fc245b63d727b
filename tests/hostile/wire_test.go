package hostile

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/core"
)

// forgedValue is the value of every identity field a hostile client sends itself.
const forgedValue = "mallory@evil.example"

// rawRequest returns the bytes of a request: the request line, the field lines exactly as
// given, and an empty body. Nothing is escaped, so a field may carry NUL, CR or LF.
func rawRequest(line string, fields ...string) []byte {
	var b bytes.Buffer
	b.WriteString(line + "\r\n")
	for _, f := range fields {
		b.WriteString(f + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\nConnection: close\r\n\r\n")
	return b.Bytes()
}

// repeatFields returns n copies of one field line.
func repeatFields(n int, field string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = field
	}
	return out
}

// wireRow is one hostile request to `tokengate serve` and the response it must get.
type wireRow struct {
	name    string
	request []byte
	status  int
	// reason is the decision reason in tokengate's JSON body, or "" when net/http responds
	// itself before tokengate reads the request (a malformed or oversized request).
	reason string
	// forwarded is true when the request must reach the upstream, with tokenID and user as
	// the identity tokengate sets.
	forwarded bool
	tokenID   string
	user      string
}

// serveWireRows returns the hostile requests and their expected responses under the default
// 64 KiB header limit. net/http reads up to that limit plus 4096 bytes of slack before it
// responds 431, so a 64 KiB value with a small request still reaches the validator.
func serveWireRows(fx *fixture) []wireRow {
	const (
		search = "POST /rest/api/v1/search HTTP/1.1"
		host   = "Host: gateway.test"
	)
	user := "Authorization: " + fx.bearer("tok_user")
	global := "Authorization: " + fx.bearer("tok_global")
	kib64 := strings.Repeat("a", 64<<10)
	mib := strings.Repeat("a", 1<<20)
	bad := "\xff\xfe\xc3\x28"
	return []wireRow{
		{name: "64 KiB authorization value", request: rawRequest(search, host, "Authorization: Bearer "+kib64), status: 400, reason: core.ReasonMalformedAuthorization.String()},
		{name: "64 KiB value in another field", request: rawRequest(search, host, user, "X-Padding: "+kib64), status: 200, reason: core.ReasonOK.String(), forwarded: true, tokenID: "tok_user", user: "ann@example.com"},
		{name: "1 MiB authorization value", request: rawRequest(search, host, "Authorization: Bearer "+mib), status: 431},
		{name: "1 MiB value in another field", request: rawRequest(search, append([]string{host, user}, "X-Padding: "+mib)...), status: 431},
		{name: "10000 empty fields", request: rawRequest(search, append([]string{host, user}, repeatFields(10000, "e:")...)...), status: 200, reason: core.ReasonOK.String(), forwarded: true, tokenID: "tok_user", user: "ann@example.com"},
		{name: "10000 fields over the limit", request: rawRequest(search, append([]string{host, user}, repeatFields(10000, "X-Field: value")...)...), status: 431},
		{name: "nul in the credential", request: rawRequest(search, host, user+"\x00"), status: 400},
		{name: "nul in another value", request: rawRequest(search, host, user, "X-Note: a\x00b"), status: 400},
		{name: "cr in the credential", request: rawRequest(search, host, "Authorization: Bearer a\rb"), status: 400},
		{name: "cr in another value", request: rawRequest(search, host, user, "X-Note: a\rX-Tokengate-User: "+forgedValue), status: 400},
		{name: "lf in a value starts a forged field", request: rawRequest(search, host, user, "X-Note: a\nX-Tokengate-User: "+forgedValue), status: 200, reason: core.ReasonOK.String(), forwarded: true, tokenID: "tok_user", user: "ann@example.com"},
		{name: "lf in the credential starts a second one", request: rawRequest(search, host, "Authorization: Bearer a\n"+user), status: 400, reason: core.ReasonMultipleAuthorization.String()},
		{name: "nul in the act-as value", request: rawRequest(search, host, global, "X-Scio-ActAs: ann@example.com\x00"), status: 400},
		{name: "invalid utf-8 in a prefixed token", request: rawRequest(search, host, "Authorization: Bearer glean_"+bad), status: 400, reason: core.ReasonMalformedAuthorization.String()},
		{name: "invalid utf-8 in an unprefixed token", request: rawRequest(search, host, "Authorization: Bearer "+bad), status: 400, reason: core.ReasonMalformedAuthorization.String()},
		{name: "invalid utf-8 in the act-as value", request: rawRequest(search, host, global, "X-Scio-ActAs: "+bad+"@example.com"), status: 400, reason: core.ReasonActAsInvalid.String()},
		{name: "invalid utf-8 in the act-as domain", request: rawRequest(search, host, global, "X-Glean-ActAs: ann@ex"+bad+".com"), status: 400, reason: core.ReasonActAsInvalid.String()},
		{name: "act-as names disagree", request: rawRequest(search, host, global, "X-Scio-ActAs: ann@example.com", "X-Glean-ActAs: bob@example.com"), status: 400, reason: core.ReasonAmbiguousActAs.String()},
		{name: "act-as names agree ignoring case", request: rawRequest(search, host, global, "X-Scio-ActAs: Ann@Example.com", "x-glean-actas: ann@example.com"), status: 200, reason: core.ReasonOK.String(), forwarded: true, tokenID: "tok_global", user: "ann@example.com"},
		{name: "act-as repeated under one name", request: rawRequest(search, host, global, "X-Glean-ActAs: ann@example.com", "X-Glean-ActAs: bob@example.com"), status: 400, reason: core.ReasonAmbiguousActAs.String()},
		{name: "act-as only in underscore spelling", request: rawRequest(search, host, global, "X_Scio_ActAs: ann@example.com"), status: 400, reason: core.ReasonActAsRequired.String()},
		{name: "underscore act-as beside the real one", request: rawRequest(search, host, global, "X-Scio-ActAs: ann@example.com", "X_Glean_ActAs: "+forgedValue), status: 200, reason: core.ReasonOK.String(), forwarded: true, tokenID: "tok_global", user: "ann@example.com"},
		{name: "user token with underscore act-as", request: rawRequest(search, host, user, "x_scio_actas: "+forgedValue), status: 200, reason: core.ReasonOK.String(), forwarded: true, tokenID: "tok_user", user: "ann@example.com"},
		{name: "user token with act-as", request: rawRequest(search, host, user, "X-Scio-ActAs: bob@example.com"), status: 403, reason: core.ReasonActAsForbidden.String()},
		{name: "empty authorization before the real one", request: rawRequest(search, host, "Authorization:", user), status: 200, reason: core.ReasonOK.String(), forwarded: true, tokenID: "tok_user", user: "ann@example.com"},
		{name: "blank authorization after the real one", request: rawRequest(search, host, user, "authorization: \t "), status: 200, reason: core.ReasonOK.String(), forwarded: true, tokenID: "tok_user", user: "ann@example.com"},
		{name: "two credentials", request: rawRequest(search, host, user, global), status: 400, reason: core.ReasonMultipleAuthorization.String()},
		{name: "folded authorization line", request: rawRequest(search, host, "Authorization: Bearer", " "+fx.secrets["tok_user"]), status: 200, reason: core.ReasonOK.String(), forwarded: true, tokenID: "tok_user", user: "ann@example.com"},
		{name: "forged identity fields", request: rawRequest(search, host, user, "X-Tokengate-User: "+forgedValue, "x-tokengate-token-id: "+forgedValue, "X_Tokengate_Permission: "+forgedValue, "X-TOKENGATE-SCOPE: "+forgedValue), status: 200, reason: core.ReasonOK.String(), forwarded: true, tokenID: "tok_user", user: "ann@example.com"},
		{name: "absolute-form target", request: rawRequest("POST http://gateway.test/rest/api/v1/search HTTP/1.1", host, user), status: 400, reason: core.ReasonMalformedPath.String()},
		{name: "absolute-form target to another host", request: rawRequest("POST https://other.example/rest/api/v1/search HTTP/1.1", host, user), status: 400, reason: core.ReasonMalformedPath.String()},
		{name: "asterisk target", request: rawRequest("GET * HTTP/1.1", host, user), status: 400, reason: core.ReasonMalformedPath.String()},
		// net/http answers OPTIONS * itself with an empty 200, before any handler runs.
		{name: "asterisk target of options", request: rawRequest("OPTIONS * HTTP/1.1", host, user), status: 200},
		{name: "authority-form target", request: rawRequest("CONNECT gateway.test:443 HTTP/1.1", host, user), status: 400, reason: core.ReasonMalformedPath.String()},
		{name: "60 KiB path", request: rawRequest("POST /rest/api/v1/"+strings.Repeat("a", 60<<10)+" HTTP/1.1", host, user), status: 403, reason: core.ReasonEndpointUnmapped.String()},
		{name: "1 MiB path", request: rawRequest("POST /rest/api/v1/"+mib+" HTTP/1.1", host, user), status: 431},
		{name: "60 KiB query", request: rawRequest("POST /rest/api/v1/search?q="+strings.Repeat("a", 60<<10)+" HTTP/1.1", host, user), status: 200, reason: core.ReasonOK.String(), forwarded: true, tokenID: "tok_user", user: "ann@example.com"},
		{name: "path with bytes above 0x7e", request: rawRequest("POST /rest/api/v1/search\xff HTTP/1.1", host, user), status: 400, reason: core.ReasonMalformedPath.String()},
		{name: "path with an encoded dot segment", request: rawRequest("POST /rest/api/v1/x/%2e%2e/search HTTP/1.1", host, user), status: 400, reason: core.ReasonMalformedPath.String()},
		{name: "http/1.0 without host", request: rawRequest("POST /rest/api/v1/search HTTP/1.0", user), status: 200, reason: core.ReasonOK.String(), forwarded: true, tokenID: "tok_user", user: "ann@example.com"},
		{name: "http/1.1 without host", request: rawRequest(search, user), status: 400},
		{name: "two host fields", request: rawRequest(search, host, "Host: other.example", user), status: 400},
		{name: "space before the colon", request: rawRequest(search, host, user, "X-Tokengate-User : "+forgedValue), status: 400},
		// net/http reads a chunked body and ignores Content-Length (RFC 9112, section 6.3),
		// so the pair cannot smuggle a second request past the gateway.
		{name: "chunked beside content-length", request: []byte(search + "\r\n" + host + "\r\n" + user + "\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\nConnection: close\r\n\r\n0\r\n\r\n"), status: 200, reason: core.ReasonOK.String(), forwarded: true, tokenID: "tok_user", user: "ann@example.com"},
		{name: "two content-lengths", request: rawRequest(search, host, user, "Content-Length: 5"), status: 400},
		// net/http answers an unknown transfer coding 501, as RFC 9112, section 6.1 asks.
		{name: "unknown transfer coding", request: rawRequest(search, host, user, "Transfer-Encoding: gzip, chunked"), status: 501},
		{name: "lower-case method", request: rawRequest("post /rest/api/v1/search HTTP/1.1", host, user), status: 403, reason: core.ReasonEndpointUnmapped.String()},
	}
}

func TestServe_HostileRequests(t *testing.T) {
	fx := newFixture(t)
	policy, store := fx.writeFiles(t)
	up := newUpstream(t, 10)
	s := startServe(t, "--engine", "extism", "--policy", policy, "--store", store, "--upstream", up.url())
	for _, row := range serveWireRows(fx) {
		t.Run(row.name, func(t *testing.T) {
			up.take()
			resp, body, err := exchange(s.addr, row.request)
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if resp.StatusCode >= 500 && row.status < 500 {
				t.Errorf("status %d: a hostile request must never get a 5xx; body %q", resp.StatusCode, body)
			}
			if resp.StatusCode != row.status {
				t.Errorf("status = %d, want %d; body %q", resp.StatusCode, row.status, truncate(body))
			}
			checkReason(t, resp, body, row)
			requests, count := up.take()
			if !row.forwarded {
				if count != 0 {
					t.Errorf("the upstream got %d requests, want none", count)
				}
				return
			}
			if count != 1 {
				t.Fatalf("the upstream got %d requests, want 1", count)
			}
			checkForwarded(t, requests[0], row.tokenID, row.user)
		})
	}
	if !s.alive() {
		t.Fatalf("tokengate serve exited during the hostile requests\nlog:\n%s", s.logs)
	}
	if n := s.logs.count("panic"); n != 0 {
		t.Errorf("the log has %d lines with a panic:\n%s", n, s.logs)
	}
}

// checkReason checks the decision reason in a tokengate answer. An answer from net/http
// itself has no JSON body, and an allowed request gets the upstream's body.
func checkReason(t *testing.T, resp *http.Response, body []byte, row wireRow) {
	t.Helper()
	if row.reason == "" || row.forwarded {
		return
	}
	var deny struct{ Reason string }
	if err := json.Unmarshal(body, &deny); err != nil {
		t.Errorf("body %q is not a tokengate denial: %v", truncate(body), err)
		return
	}
	if deny.Reason != row.reason {
		t.Errorf("reason = %q, want %q", deny.Reason, row.reason)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}

// checkForwarded checks the identity that reached the upstream and that no forged identity or
// underscore spelling came along.
func checkForwarded(t *testing.T, h http.Header, tokenID, user string) {
	t.Helper()
	if got := h.Values(core.HeaderTokenID); len(got) != 1 || got[0] != tokenID {
		t.Errorf("upstream %s = %q, want %q", core.HeaderTokenID, got, tokenID)
	}
	if got := h.Values(core.HeaderUser); len(got) != 1 || got[0] != user {
		t.Errorf("upstream %s = %q, want %q", core.HeaderUser, got, user)
	}
	for name, values := range h {
		if core.IsReservedHeader(name) && !isIdentityHeader(name) {
			t.Errorf("reserved field %s = %q reached the upstream", name, values)
		}
		for _, v := range values {
			if strings.Contains(v, forgedValue) {
				t.Errorf("forged value in %s reached the upstream", name)
			}
		}
	}
}

func isIdentityHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case core.HeaderTokenID, core.HeaderPermission, core.HeaderScope, core.HeaderUser:
		return true
	}
	return false
}

// truncate shortens a body for a failure message.
func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}
