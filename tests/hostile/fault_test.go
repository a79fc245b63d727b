package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host"
	"github.com/tokengate/tokengate/host/engine"
	"github.com/tokengate/tokengate/host/gateway"
)

// reloadTimeout bounds the wait for a reload that a file change triggers.
const reloadTimeout = 30 * time.Second

// smallMemoryEngine is an engine registered by this package: the extism engine with one
// instance whose memory is limited to smallMemoryPages, so that a large request makes the
// guest run out of memory and trap.
const smallMemoryEngine = "extism-small-memory"

// smallMemoryPages is 8 MiB of guest memory: enough for the module (which declares 47 pages)
// the fixture bundle and ordinary requests, too little for a request of 4 MiB.
const smallMemoryPages = 128

// smallMemoryLog receives the log of every Host that smallMemoryEngine opens.
var smallMemoryLog = &lineLog{changed: make(chan struct{})}

func init() {
	engine.Register(smallMemoryEngine, func(ctx context.Context, bundle []byte, opts engine.Options) (engine.Engine, error) {
		return host.New(ctx, host.Options{
			ModulePath:       filepath.Join(opts.ModuleDir, engine.ExtismModule),
			Bundle:           bundle,
			PoolSize:         1,
			MemoryLimitPages: smallMemoryPages,
			Logger:           slog.New(slog.NewJSONHandler(smallMemoryLog, nil)),
		})
	})
}

// runGateway runs gateway.Run, the code behind `tokengate serve`, in this process on a free
// loopback port and returns its address and log. It stops when the test ends.
func runGateway(t *testing.T, cfg gateway.Config) (string, *lineLog) {
	t.Helper()
	logs := &lineLog{changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gateway.Run(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil))) }()
	exited := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-ctx.Done():
			return
		}
		close(exited)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(stopTimeout):
			t.Errorf("the gateway did not stop within %s", stopTimeout)
		}
	})
	line, err := logs.waitFor(`"msg":"listening"`, startTimeout, exited)
	if err != nil {
		t.Fatalf("the gateway did not start: %v\nlog:\n%s", err, logs)
	}
	var l struct{ Addr string }
	if err := json.Unmarshal([]byte(line), &l); err != nil || l.Addr == "" {
		t.Fatalf("listening line %q has no address", line)
	}
	return l.Addr, logs
}

// search sends a search with the given Authorization value and extra field lines, and returns
// the status and body.
func search(t *testing.T, addr, authorization string, fields ...string) (int, []byte) {
	t.Helper()
	all := append([]string{"Host: gateway.test", "Authorization: " + authorization}, fields...)
	resp, body, err := exchange(addr, rawRequest("POST /rest/api/v1/search HTTP/1.1", all...))
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	return resp.StatusCode, body
}

// bodyReason returns the reason member of a JSON body, or "" when it has none.
func bodyReason(body []byte) string {
	var m struct{ Reason string }
	_ = json.Unmarshal(body, &m)
	return m.Reason
}

func TestGateway_GuestTrapAnswers503(t *testing.T) {
	fx := newFixture(t)
	policy, store := fx.writeFiles(t)
	up := newUpstream(t, 0)
	cfg := gateway.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Upstream = up.url()
	cfg.Policy, cfg.Store = policy, store
	cfg.Engine = smallMemoryEngine
	cfg.Modules = moduleDir(t)
	cfg.MaxHeaderBytes = 8 << 20
	addr, logs := runGateway(t, cfg)
	secret := fx.secrets["tok_user"]
	padding := "X-Padding: " + strings.Repeat("a", 4<<20)

	// Each round traps the one instance and checks that the next request gets a new one.
	const rounds = 3
	for round := range rounds {
		if status, body := search(t, addr, fx.bearer("tok_user")); status != http.StatusOK {
			t.Fatalf("round %d: status %d before the trap, want 200; body %s\nhost log:\n%s", round, status, body, smallMemoryLog)
		}
		status, body := search(t, addr, fx.bearer("tok_user"), padding)
		if status != http.StatusServiceUnavailable {
			t.Fatalf("round %d: status %d for the request that runs the guest out of memory, want 503; body %s", round, status, body)
		}
		if got := bodyReason(body); got != "engine_error" {
			t.Errorf("round %d: reason %q, want engine_error", round, got)
		}
		for _, leak := range []string{secret, "tok_user", "ann@example.com"} {
			if bytes.Contains(body, []byte(leak)) {
				t.Errorf("round %d: the 503 body names %q: %s", round, leak, body)
			}
		}
	}
	if status, body := search(t, addr, fx.bearer("tok_user")); status != http.StatusOK {
		t.Fatalf("status %d after the traps, want 200 from a new instance; body %s", status, body)
	}
	if got := smallMemoryLog.count("discarding trapped module instance"); got < rounds {
		t.Errorf("the host logged %d discarded instances, want %d\nhost log:\n%s", got, rounds, smallMemoryLog)
	}
	if got := smallMemoryLog.count("out of memory"); got < rounds {
		t.Errorf("the host logged %d out-of-memory traps, want %d", got, rounds)
	}
	if got := logs.count(`"msg":"engine failed to decide`); got != rounds {
		t.Errorf("the gateway logged %d engine failures, want %d", got, rounds)
	}
	_, n := up.take()
	if n != rounds+1 {
		t.Errorf("the upstream got %d requests, want %d: a trapped request must not go upstream", n, rounds+1)
	}
	for _, line := range append(logs.all(), smallMemoryLog.all()...) {
		if strings.Contains(line, secret) {
			t.Errorf("log line contains the secret: %.300s", line)
		}
	}
}

func TestHost_CorruptBundleKeepsCurrent(t *testing.T) {
	fx := newFixture(t)
	good := fx.bundle(t)
	h, err := host.New(context.Background(), host.Options{
		ModulePath: filepath.Join(moduleDir(t), engine.ExtismModule),
		Bundle:     good,
		PoolSize:   1,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	before, _ := h.Bundle()

	var file struct {
		Format  int             `json:"format"`
		Digest  string          `json:"digest"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(good, &file); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	i := bytes.Index(flipped, []byte(`"tok_user"`))
	flipped[i+1] ^= 0x01 // one bit of a token id, inside the digested content
	wrongFormat := bytes.Replace(good, []byte(`"format":1`), []byte(`"format":2`), 1)
	otherDigest := bytes.Replace(good, []byte(file.Digest), []byte("sha256:"+strings.Repeat("0", 64)), 1)
	corrupt := map[string][]byte{
		"empty":                nil,
		"truncated":            good[:len(good)/2],
		"one flipped bit":      flipped,
		"other format version": wrongFormat,
		"other digest":         otherDigest,
		"not json":             []byte("\x00\x01\x02 not a bundle"),
		"json of another kind": []byte(`[1, 2, 3]`),
		"valid content resealed with a duplicate token": resealed(t, file.Content, func(c map[string]json.RawMessage) {
			var tokens []json.RawMessage
			if err := json.Unmarshal(c["tokens"], &tokens); err != nil {
				t.Fatal(err)
			}
			c["tokens"], _ = json.Marshal(append(tokens, tokens[0]))
		}),
	}
	for name, data := range corrupt {
		t.Run(name, func(t *testing.T) {
			if err := h.SetBundle(data); err == nil {
				t.Fatal("SetBundle accepted the corrupt bundle")
			}
			if info, ok := h.Bundle(); !ok || info.Digest != before.Digest {
				t.Errorf("bundle in force is %+v, want the previous %s", info, before.Digest)
			}
			req := core.Request{Method: "POST", Path: "/rest/api/v1/search", Headers: []core.Header{{Name: "Authorization", Value: fx.bearer("tok_user")}}}
			d, err := h.Decide(context.Background(), req, time.Now())
			if err != nil || d.Reason != core.ReasonOK || d.TokenID != "tok_user" {
				t.Errorf("decision %+v, %v after the corrupt bundle, want ok for tok_user from the previous bundle", d, err)
			}
		})
	}
}

// resealed returns a bundle of content changed by edit, with a matching digest, so that the
// change reaches the checks behind the digest.
func resealed(t *testing.T, content json.RawMessage, edit func(map[string]json.RawMessage)) []byte {
	t.Helper()
	var c map[string]json.RawMessage
	if err := json.Unmarshal(content, &c); err != nil {
		t.Fatal(err)
	}
	edit(c)
	changed, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(map[string]any{
		"format":  core.BundleFormatVersion,
		"digest":  "sha256:" + core.Digest(string(changed)),
		"content": json.RawMessage(changed),
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// steadyTraffic sends searches with tok_user in a loop until stop is called, and returns the
// statuses other than 200 it saw. It shows that a fault never interrupts a valid client.
func steadyTraffic(t *testing.T, addr, authorization string) (stop func() map[int]int) {
	t.Helper()
	var (
		wg      sync.WaitGroup
		done    atomic.Bool
		mu      sync.Mutex
		failed  = map[int]int{}
		client  = &http.Client{Timeout: exchangeTimeout}
		request = func() int {
			req, _ := http.NewRequest("POST", "http://"+addr+"/rest/api/v1/search", nil)
			req.Header.Set("Authorization", authorization)
			resp, err := client.Do(req)
			if err != nil {
				return -1
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Bounded in count as well as by stop, at about one request per 5 ms.
		for i := 0; i < 20000 && !done.Load(); i++ {
			if status := request(); status != http.StatusOK {
				mu.Lock()
				failed[status]++
				mu.Unlock()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() map[int]int {
		done.Store(true)
		wg.Wait()
		return failed
	}
}

func TestServe_CorruptFilesKeepPrevious(t *testing.T) {
	fx := newFixture(t)
	policyPath, storePath := fx.writeFiles(t)
	goodPolicy, err := os.ReadFile(policyPath)
	if err != nil {
		t.Fatal(err)
	}
	goodStore, err := os.ReadFile(storePath)
	if err != nil {
		t.Fatal(err)
	}
	up := newUpstream(t, 0)
	s := startServe(t, "--engine", "extism", "--policy", policyPath, "--store", storePath, "--upstream", up.url())
	digest := s.digest(t)
	stop := steadyTraffic(t, s.addr, fx.bearer("tok_user"))

	corrupt := []struct {
		name string
		path string
		data string
	}{
		{"truncated store", storePath, string(goodStore[:len(goodStore)/2])},
		{"empty store", storePath, ""},
		{"binary store", storePath, "\x00\xff\xfe\x01garbage"},
		{"store with an invalid permission", storePath, strings.Replace(string(goodStore), `"USER"`, `"ROOT"`, 1)},
		{"store with a duplicate token id", storePath, duplicateFirstToken(t, goodStore)},
		{"store with an unknown field", storePath, strings.Replace(string(goodStore), `"tokens"`, `"secret":"x","tokens"`, 1)},
		{"policy that is not yaml", policyPath, "scopes: [\x00\x01"},
		{"policy with an unknown scope", policyPath, strings.Replace(string(goodPolicy), "SEARCH:", "ROOT:", 1)},
		{"empty policy", policyPath, ""},
	}
	for _, c := range corrupt {
		t.Run(c.name, func(t *testing.T) {
			failures := s.logs.count(`"msg":"reload failed`)
			if err := os.WriteFile(c.path, []byte(c.data), 0o600); err != nil {
				t.Fatal(err)
			}
			waitLogCount(t, s, `"msg":"reload failed`, failures+1)
			if got := s.digest(t); got != digest {
				t.Errorf("bundle digest changed from %s to %s", digest, got)
			}
			if status, body := search(t, s.addr, fx.bearer("tok_user")); status != http.StatusOK {
				t.Errorf("status %d with the corrupt file, want 200 from the previous configuration; body %s", status, body)
			}
		})
		// Put the good content back so the next corruption starts from a valid pair; the
		// digest is the same, so the gateway keeps its engine.
		restore(t, policyPath, goodPolicy)
		restore(t, storePath, goodStore)
	}
	if failed := stop(); len(failed) != 0 {
		t.Errorf("a valid client got statuses other than 200 while files were corrupt: %v\nlog:\n%s", failed, s.logs)
	}
}

// duplicateFirstToken returns a store file whose first token appears twice.
func duplicateFirstToken(t *testing.T, store []byte) string {
	t.Helper()
	var f map[string]json.RawMessage
	if err := json.Unmarshal(store, &f); err != nil {
		t.Fatal(err)
	}
	var tokens []json.RawMessage
	if err := json.Unmarshal(f["tokens"], &tokens); err != nil {
		t.Fatal(err)
	}
	f["tokens"], _ = json.Marshal(append(tokens, tokens[0]))
	out, _ := json.Marshal(f)
	return string(out)
}

func restore(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitLogCount waits until at least n log lines contain substr.
func waitLogCount(t *testing.T, s *serveProcess, substr string, n int) {
	t.Helper()
	deadline := time.Now().Add(reloadTimeout)
	for s.logs.count(substr) < n {
		if time.Now().After(deadline) || !s.alive() {
			t.Fatalf("want %d log lines with %q, have %d\nlog:\n%s", n, substr, s.logs.count(substr), s.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServe_StoreDeletedKeepsLastGood(t *testing.T) {
	fx := newFixture(t)
	policyPath, storePath := fx.writeFiles(t)
	up := newUpstream(t, 0)
	s := startServe(t, "--engine", "extism", "--policy", policyPath, "--store", storePath, "--upstream", up.url())
	digest := s.digest(t)
	stop := steadyTraffic(t, s.addr, fx.bearer("tok_user"))

	if err := os.Remove(storePath); err != nil {
		t.Fatal(err)
	}
	waitLogCount(t, s, "file is missing", 1)
	line, _ := s.logs.waitFor("file is missing", time.Second, s.exited)
	if !strings.Contains(line, storePath) {
		t.Errorf("the log line does not name the missing file %s: %s", storePath, line)
	}
	if got := s.digest(t); got != digest {
		t.Errorf("bundle digest changed from %s to %s after the store was deleted", digest, got)
	}
	if status, body := search(t, s.addr, fx.bearer("tok_user")); status != http.StatusOK {
		t.Errorf("status %d after the store was deleted, want 200 from the last good store; body %s", status, body)
	}
	if failed := stop(); len(failed) != 0 {
		t.Errorf("a valid client got statuses other than 200 while the store was missing: %v", failed)
	}

	// A store that comes back is loaded: here it revokes tok_user.
	tokens := fx.store.Tokens()
	for i := range tokens {
		if tokens[i].ID == "tok_user" {
			tokens[i].RevokedAt = time.Now().Add(-time.Minute)
		}
	}
	revoked, err := core.NewStore(tokens)
	if err != nil {
		t.Fatal(err)
	}
	writeStore(t, storePath, revoked)
	deadline := time.Now().Add(reloadTimeout)
	for {
		status, body := search(t, s.addr, fx.bearer("tok_user"))
		if status == http.StatusUnauthorized && bodyReason(body) == core.ReasonRevokedToken.String() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %d %s %s after the store came back, want 401 revoked_token", status, bodyReason(body), reloadTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServe_UpstreamDownAnswers502(t *testing.T) {
	fx := newFixture(t)
	policyPath, storePath := fx.writeFiles(t)
	down := closedPort(t)
	s := startServe(t, "--engine", "extism", "--policy", policyPath, "--store", storePath, "--upstream", "http://"+down)
	secret := fx.secrets["tok_user"]

	status, body := search(t, s.addr, fx.bearer("tok_user"), "X-Scio-Trace: trace-1")
	if status != http.StatusBadGateway {
		t.Fatalf("status %d with the upstream down, want 502; body %s", status, body)
	}
	if got := bodyReason(body); got != "upstream_unavailable" {
		t.Errorf("reason %q, want upstream_unavailable", got)
	}
	for _, leak := range []string{secret, "tok_user", "ann@example.com", "USER", "SEARCH", "Bearer"} {
		if bytes.Contains(body, []byte(leak)) {
			t.Errorf("the 502 body names %q: %s", leak, body)
		}
	}
	// A denial is decided before the upstream is tried, so it keeps its own status.
	if status, body := search(t, s.addr, "Bearer unknown-token"); status != http.StatusUnauthorized {
		t.Errorf("status %d for an unknown token with the upstream down, want 401; body %s", status, body)
	}
	if _, err := s.logs.waitFor(`"msg":"upstream request failed`, reloadTimeout, s.exited); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, s.logs)
	}
	for _, line := range s.logs.all() {
		if strings.Contains(line, secret) {
			t.Errorf("log line contains the secret: %s", line)
		}
	}
	_, metrics := s.get(t, "/_tokengate/metrics")
	if !bytes.Contains(metrics, []byte("tokengate_upstream_errors_total 1")) {
		t.Errorf("metrics do not count one upstream error:\n%s", grepLines(metrics, "tokengate_upstream"))
	}
}

// closedPort returns a loopback address on which nothing listens: a port that was free a
// moment ago.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("something listens on %s again", addr)
	}
	return addr
}

// grepLines returns the lines of b that contain substr, for failure messages.
func grepLines(b []byte, substr string) string {
	var out []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, substr) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return fmt.Sprint(out)
}
