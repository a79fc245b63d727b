package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokengate/tokengate/host/conformance"
)

// forgedHeaders go with every replayed request. The upstream must never see them.
var forgedHeaders = [][2]string{
	{"X-Tokengate-User", "mallory@example.com"},
	{"X_Tokengate_User", "mallory@example.com"},
}

// echoBody is the part of the mock upstream's response that the tests read.
type echoBody struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Headers map[string][]string `json:"headers"`
}

func TestServe_ConformanceCases(t *testing.T) {
	f := loadCases(t)
	store := filepath.Join(t.TempDir(), "tokens.json")
	groups := groupByInstant(f)
	writeStoreFile(t, store, shiftedStore(t, f, groups[0].at, time.Now()))
	s := startServe(t, "--mock-upstream", "--policy", policyPath, "--store", store)

	for i, g := range groups {
		if i > 0 {
			moveClock(t, s, f, store, g.at)
		}
		for _, c := range g.cases {
			t.Run(c.Name, func(t *testing.T) {
				headers := append(append([][2]string{}, headerPairs(c)...), forgedHeaders...)
				resp, body := rawRequest(t, s.addr, c.Method, c.Path, headers)
				checkCase(t, c, resp, body)
			})
		}
	}
	for id, secret := range f.Secrets {
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("the log contains the secret of %s", id)
		}
	}
	// The gateway writes a request's log line after the response, so the last line may
	// still be on its way when the client has its answer.
	deadline := time.Now().Add(5 * time.Second)
	n := s.logs.count(`"msg":"request"`)
	for n < len(f.Cases) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n = s.logs.count(`"msg":"request"`)
	}
	if n < len(f.Cases) {
		t.Errorf("%d request log lines for %d requests", n, len(f.Cases))
	}
}

// TestAuthz_ConformanceCases replays the conformance file through the authorization endpoint,
// as nginx auth_request sends it: the original method and target in X-Original-Method and
// X-Original-URI, and the client's header fields.
func TestAuthz_ConformanceCases(t *testing.T) {
	f := loadCases(t)
	store := filepath.Join(t.TempDir(), "tokens.json")
	groups := groupByInstant(f)
	writeStoreFile(t, store, shiftedStore(t, f, groups[0].at, time.Now()))
	s := startServe(t, "--mock-upstream", "--policy", policyPath, "--store", store)

	for i, g := range groups {
		if i > 0 {
			moveClock(t, s, f, store, g.at)
		}
		for _, c := range g.cases {
			t.Run(c.Name, func(t *testing.T) {
				headers := [][2]string{{"X-Original-Method", c.Method}, {"X-Original-URI", c.Path}}
				headers = append(append(headers, headerPairs(c)...), forgedHeaders...)
				resp, body := rawRequest(t, s.addr, "GET", "/_tokengate/authz", headers)
				status := int(c.Expect["status"].(float64))
				if resp.StatusCode != status {
					t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, body)
				}
				if status != http.StatusOK {
					checkDenial(t, c, resp, body)
					return
				}
				checkIdentity(t, c, "authz response", resp.Header)
			})
		}
	}
	for id, secret := range f.Secrets {
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("the log contains the secret of %s", id)
		}
	}
}

// instantGroup is the cases that share one instant.
type instantGroup struct {
	at    time.Time
	cases []conformance.Case
}

// groupByInstant groups the cases by instant, the file's own first, in file order.
func groupByInstant(f *conformance.File) []instantGroup {
	groups := []instantGroup{{at: f.Now}}
	for _, c := range f.Cases {
		at := c.Instant(f)
		i := 0
		for i < len(groups) && !groups[i].at.Equal(at) {
			i++
		}
		if i == len(groups) {
			groups = append(groups, instantGroup{at: at})
		}
		groups[i].cases = append(groups[i].cases, c)
	}
	return groups
}

// moveClock rewrites the store so that the instant at is a moment from now, waits until the
// gateway has reloaded it and then until that moment. Cases on an expiry boundary need the
// request to arrive within a second of it, so when the reload took longer than the lead time,
// it tries again with a longer one.
func moveClock(t *testing.T, s *server, f *conformance.File, store string, at time.Time) {
	t.Helper()
	lead := time.Second
	for attempt := 0; attempt < 4; attempt++ {
		base := time.Now().Add(lead)
		s.waitDigest(t, writeStoreFile(t, store, shiftedStore(t, f, at, base)))
		if wait := time.Until(base); wait > 0 {
			time.Sleep(wait)
			return
		}
		lead *= 2
	}
	t.Fatalf("reloading the store took longer than %s four times", lead)
}

func headerPairs(c conformance.Case) [][2]string {
	out := make([][2]string, len(c.Headers))
	for i, h := range c.Headers {
		out[i] = [2]string{h.Name, h.Value}
	}
	return out
}

// checkCase checks one replayed case against its expectation and the wire rules of the spec.
func checkCase(t *testing.T, c conformance.Case, resp *http.Response, body []byte) {
	t.Helper()
	status := int(c.Expect["status"].(float64))
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if status == http.StatusOK {
		checkForwarded(t, c, body)
		return
	}
	checkDenial(t, c, resp, body)
}

// checkForwarded checks what the mock upstream received for an allowed case.
func checkForwarded(t *testing.T, c conformance.Case, body []byte) {
	t.Helper()
	var e echoBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("allowed case answered by something other than the mock upstream: %v\n%s", err, body)
	}
	path, query, _ := strings.Cut(c.Path, "?")
	if e.Path != path || e.Query != query {
		t.Errorf("upstream got path %q query %q, want %q and %q", e.Path, e.Query, path, query)
	}
	if _, ok := e.Headers["X_tokengate_user"]; ok {
		t.Error("upstream got the forged X_Tokengate_User")
	}
	checkIdentity(t, c, "upstream", e.Headers)
}

// checkIdentity checks the identity fields that the gateway set for an allowed case, in the
// header fields that where (the upstream, or the authz response) received.
func checkIdentity(t *testing.T, c conformance.Case, where string, headers map[string][]string) {
	t.Helper()
	want := map[string]string{}
	if c.Expect["reason"] == "ok" {
		want["X-Tokengate-Token-Id"], _ = c.Expect["token_id"].(string)
		want["X-Tokengate-Permission"], _ = c.Expect["permission"].(string)
		want["X-Tokengate-Scope"], _ = c.Expect["scope"].(string)
		want["X-Tokengate-User"], _ = c.Expect["principal"].(string)
	}
	for _, name := range []string{"X-Tokengate-Token-Id", "X-Tokengate-Permission", "X-Tokengate-Scope", "X-Tokengate-User"} {
		got := headers[name]
		switch {
		case want[name] == "" && len(got) != 0:
			t.Errorf("%s %s = %q, want none", where, name, got)
		case want[name] != "" && (len(got) != 1 || got[0] != want[name]):
			t.Errorf("%s %s = %q, want [%q]", where, name, got, want[name])
		}
	}
}

// checkDenial checks the status line, headers and body of a denial against the spec.
func checkDenial(t *testing.T, c conformance.Case, resp *http.Response, body []byte) {
	t.Helper()
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}

	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("denial body is not a JSON object of strings: %v\n%s", err, body)
	}
	reason, _ := c.Expect["reason"].(string)
	if reason == "" {
		reason = m["reason"]
	}
	if m["reason"] != reason {
		t.Errorf("body reason = %q, want %q", m["reason"], reason)
	}
	wantError := specError(resp.StatusCode, reason)
	if e, ok := c.Expect["error"].(string); ok && e != wantError {
		t.Fatalf("case expects error %q but the spec gives %q", e, wantError)
	}
	if m["error"] != wantError {
		t.Errorf("body error = %q, want %q", m["error"], wantError)
	}
	if m["message"] == "" {
		t.Error("body has no message")
	}

	scope, _ := c.Expect["scope"].(string)
	want := specChallenge(resp.StatusCode, reason, wantError, scope)
	got := resp.Header.Values("WWW-Authenticate")
	if want == "" && len(got) != 0 {
		t.Errorf("WWW-Authenticate = %q, want none", got)
	}
	if want != "" && (len(got) != 1 || got[0] != want) {
		t.Errorf("WWW-Authenticate = %q, want [%q]", got, want)
	}
	if strings.Contains(string(body), "glean_") || strings.Contains(string(body), "@") {
		t.Errorf("denial body echoes request data: %s", body)
	}
}

// specError is the error code of a denial, written out from the decision model's table.
func specError(status int, reason string) string {
	switch status {
	case 400:
		return "invalid_request"
	case 401:
		if reason == "missing_token" || reason == "unsupported_scheme" {
			return "unauthorized"
		}
		return "invalid_token"
	case 403:
		if reason == "scope_missing" || reason == "endpoint_unmapped" || reason == "anonymous_not_allowed" {
			return "insufficient_scope"
		}
		return "forbidden"
	}
	return "unavailable"
}

// specChallenge is the WWW-Authenticate value of a denial in the realm glean, written out
// from the decision model's wire rules.
func specChallenge(status int, reason, errCode, scope string) string {
	base := `Bearer realm="glean"`
	switch {
	case status == 401 && errCode == "invalid_token":
		return base + `, error="invalid_token"`
	case status == 401:
		return base
	case status == 403 && reason == "scope_missing":
		return base + `, error="insufficient_scope", scope="` + scope + `"`
	case status == 403 && errCode == "insufficient_scope":
		return base + `, error="insufficient_scope"`
	case status == 400 && reason != "malformed_path":
		return base + `, error="invalid_request"`
	}
	return ""
}

func TestServe_HeaderTooLarge(t *testing.T) {
	f := loadCases(t)
	store := currentStoreFile(t, f)
	cases := []struct {
		name   string
		flags  []string
		size   int
		status int
	}{
		{"default limit passes 60 KiB", nil, 60 << 10, 200},
		{"default limit rejects 72 KiB", nil, 72 << 10, 431},
		{"configured limit rejects 16 KiB", []string{"--max-header-bytes", "8192"}, 16 << 10, 431},
	}
	// One server per set of flags, shared by the cases that use it.
	servers := map[string]*server{}
	for _, c := range cases {
		key := strings.Join(c.flags, " ")
		if servers[key] == nil {
			args := append([]string{"--mock-upstream", "--policy", policyPath, "--store", store}, c.flags...)
			servers[key] = startServe(t, args...)
		}
		s := servers[key]
		t.Run(c.name, func(t *testing.T) {
			headers := [][2]string{
				{"Authorization", "Bearer " + f.Secrets["tok_user"]},
				{"X-Padding", strings.Repeat("p", c.size)},
			}
			resp, body := rawRequest(t, s.addr, "POST", "/rest/api/v1/search", headers)
			if resp.StatusCode != c.status {
				t.Fatalf("status = %d, want %d; body %.200s", resp.StatusCode, c.status, body)
			}
			if c.status == 431 && !strings.Contains(string(body), "431 Request Header Fields Too Large") {
				t.Errorf("431 body = %q, want it to say Request Header Fields Too Large", body)
			}
		})
	}
}

func TestServe_ConfigFile(t *testing.T) {
	f := loadCases(t)
	store := currentStoreFile(t, f)
	policy, err := filepath.Abs(policyPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "tokengate.yaml")
	// The file's listen address is one nothing can bind, so starting proves the flag won.
	content := fmt.Sprintf("listen: 192.0.2.1:1\nmock_upstream: true\npolicy: %s\nstore: %s\nshadow: true\n", policy, store)
	if err := os.WriteFile(config, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "--config", config)
	resp, body := rawRequest(t, s.addr, "POST", "/rest/api/v1/chat", [][2]string{{"Authorization", "Bearer " + f.Secrets["tok_user"]}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200 in shadow mode from the file; body %s", resp.StatusCode, body)
	}
	var e echoBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	if got := e.Headers["X-Tokengate-Shadow-Reason"]; len(got) != 1 || got[0] != "scope_missing" {
		t.Errorf("upstream X-Tokengate-Shadow-Reason = %q, want [scope_missing]", got)
	}
}

func TestServe_ConfigFileUnknownKey(t *testing.T) {
	config := filepath.Join(t.TempDir(), "tokengate.yaml")
	if err := os.WriteFile(config, []byte("mock_upstream: true\nstore: x.json\nupstream_url: http://x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := launchServe("--config", config)
	if err != nil {
		t.Fatal(err)
	}
	if code := waitForExit(t, s, "an unknown config key"); code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
	if !strings.Contains(s.logs.String(), "upstream_url") {
		t.Errorf("stderr does not name the unknown key:\n%s", s.logs)
	}
}

func TestServe_AddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f := loadCases(t)
	s, err := launchServe("--mock-upstream", "--policy", policyPath, "--store", currentStoreFile(t, f),
		"--listen", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if code := waitForExit(t, s, "an address in use"); code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	want := "listen address " + ln.Addr().String() + " is already in use"
	if !strings.Contains(s.logs.String(), want) || !strings.Contains(s.logs.String(), "make run ADDR=") {
		t.Errorf("stderr does not say %q and how to choose another address:\n%s", want, s.logs)
	}
}

func TestServe_GracefulShutdown(t *testing.T) {
	f := loadCases(t)
	store := currentStoreFile(t, f)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			s := startServe(t, "--mock-upstream", "--policy", policyPath, "--store", store)
			if code := s.signal(t, sig); code != 0 {
				t.Errorf("exit code = %d, want 0\nlog:\n%s", code, s.logs)
			}
			for _, want := range []string{`"msg":"stopping"`, `"signal":"` + sig.String() + `"`, `"msg":"stopped"`} {
				if _, ok := s.logs.find(want); !ok {
					t.Errorf("log lacks %s:\n%s", want, s.logs)
				}
			}
		})
	}
}

// waitForExit waits for a serve process that must stop on its own because of cause, and
// returns its exit code.
func waitForExit(t *testing.T, s *server, cause string) int {
	t.Helper()
	select {
	case <-s.exited:
	case <-time.After(startTimeout):
		s.stop(t)
		t.Fatalf("serve did not exit on %s", cause)
	}
	return s.cmd.ProcessState.ExitCode()
}
