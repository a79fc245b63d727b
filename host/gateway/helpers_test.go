package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/policyfile"
	"github.com/tokengate/tokengate/internal/atomicfile"
)

// Secrets of the test tokens. They are in the project's token format.
const (
	userSecret   = "glean_gblGr2ccFaotRkgwmtVil6GCcs8dIt0ambjt"
	anonSecret   = "glean_wp6oN2dMUM2Vs6LmveV1kaYdWicK7W2YRuUw"
	globalSecret = "glean_2POF4wMGWkq8wdtr015Afjfg4ZIhOS1NY7NL"
)

// testTokens returns a USER token with SEARCH, an ANONYMOUS token with SEARCH and a GLOBAL
// token with SEARCH and CHAT, none expiring.
func testTokens() []core.Token {
	return []core.Token{
		{ID: "tok_user", Digest: core.Digest(userSecret), Permission: core.PermissionUser,
			Scopes: core.NewScopeSet(core.ScopeSearch), User: "ann@example.com"},
		{ID: "tok_anon", Digest: core.Digest(anonSecret), Permission: core.PermissionAnonymous,
			Scopes: core.NewScopeSet(core.ScopeSearch)},
		{ID: "tok_global", Digest: core.Digest(globalSecret), Permission: core.PermissionGlobal,
			Scopes: core.NewScopeSet(core.ScopeSearch, core.ScopeChat)},
	}
}

// writeStore writes a store file of tokens to path atomically.
func writeStore(t testing.TB, path string, tokens []core.Token) {
	t.Helper()
	store, err := core.NewStore(tokens)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(store)
	if err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// fixture is a gateway with its own policy and store files, served on a loopback port in
// front of a mock upstream.
type fixture struct {
	cfg      Config
	gw       *Gateway
	server   *httptest.Server
	upstream *httptest.Server
	logs     *syncBuffer
}

// fixtureOption changes the fixture's settings before the gateway is built.
type fixtureOption func(cfg *Config, policy *[]byte)

func withShadow(cfg *Config, _ *[]byte) { cfg.Shadow = true }

func withStripCredential(_ *Config, policy *[]byte) {
	*policy = bytes.Replace(*policy, []byte("strip_credential: false"), []byte("strip_credential: true"), 1)
}

// newFixture writes the repository's scopes.yaml and testTokens to a temporary folder,
// builds a gateway on the named engine, loads it and serves it. The upstream is the mock
// upstream with the same policy.
func newFixture(t testing.TB, engineName string, opts ...fixtureOption) *fixture {
	t.Helper()
	dir := t.TempDir()
	policy, err := os.ReadFile("../../scopes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Engine = engineName
	cfg.Modules = moduleDir
	cfg.Policy = filepath.Join(dir, "scopes.yaml")
	cfg.Store = filepath.Join(dir, "tokens.json")
	for _, o := range opts {
		o(&cfg, &policy)
	}
	if err := os.WriteFile(cfg.Policy, policy, 0o644); err != nil {
		t.Fatal(err)
	}
	writeStore(t, cfg.Store, testTokens())

	compiledPolicy, err := policyfile.Parse(cfg.Policy, policy)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{logs: &syncBuffer{}}
	f.upstream = httptest.NewServer(NewMockUpstream(func() *core.Policy { return compiledPolicy }))
	t.Cleanup(f.upstream.Close)
	cfg.Upstream = f.upstream.URL
	f.cfg = cfg

	f.gw, err = New(cfg, slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.gw.Reload(context.Background(), "start"); err != nil {
		t.Fatal(err)
	}
	f.server = httptest.NewServer(f.gw)
	t.Cleanup(f.server.Close)
	t.Cleanup(f.gw.Close)
	return f
}

// rawRequest sends one HTTP/1.1 request with exactly the given request target and header
// fields, in order, and returns the response with its body read.
func rawRequest(t *testing.T, addr, method, target string, headers [][2]string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, addr)
	for _, h := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("Content-Length: 0\r\nConnection: close\r\n\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// addr returns the host:port of the fixture's gateway.
func (f *fixture) addr(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(f.server.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// echo decodes the mock upstream's response body.
func echo(t *testing.T, body []byte) MockEcho {
	t.Helper()
	var e MockEcho
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("response is not the mock upstream's echo: %v\n%s", err, body)
	}
	return e
}

// denyBody decodes a denial's JSON body.
func denyBody(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("denial body is not a JSON object of strings: %v\n%s", err, body)
	}
	return m
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
