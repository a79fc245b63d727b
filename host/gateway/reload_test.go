package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
)

// revokedTokens returns testTokens with tok_user revoked a minute ago.
func revokedTokens() []core.Token {
	tokens := testTokens()
	tokens[0].RevokedAt = time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	return tokens
}

func searchStatus(t *testing.T, f *fixture) (int, string) {
	t.Helper()
	resp, body := rawRequest(t, f.addr(t), "POST", "/rest/api/v1/search", [][2]string{{"Authorization", "Bearer " + userSecret}})
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "ok"
	}
	return resp.StatusCode, denyBody(t, body)["reason"]
}

// healthDigest returns the bundle digest that the health endpoint reports.
func healthDigest(t *testing.T, f *fixture) string {
	t.Helper()
	resp, body := rawRequest(t, f.addr(t), "GET", HealthzPath, nil)
	var h health
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("health body: %v\n%s", err, body)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health status = %d, want 200; body %s", resp.StatusCode, body)
	}
	return h.BundleDigest
}

func TestReload_RevokedToken(t *testing.T) {
	for _, name := range testEngines() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, name)
			if status, reason := searchStatus(t, f); status != 200 {
				t.Fatalf("before reload: status %d (%s), want 200", status, reason)
			}
			before := healthDigest(t, f)
			writeStore(t, f.cfg.Store, revokedTokens())
			if err := f.gw.Reload(context.Background(), "test"); err != nil {
				t.Fatal(err)
			}
			if status, reason := searchStatus(t, f); status != 401 || reason != "revoked_token" {
				t.Errorf("after reload: status %d (%s), want 401 revoked_token", status, reason)
			}
			if after := healthDigest(t, f); after == before {
				t.Errorf("bundle digest %s did not change on reload", after)
			}
		})
	}
}

func TestReload_InvalidFilesKeepPrevious(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(t *testing.T, cfg Config)
		log     string
	}{
		{"corrupt store", func(t *testing.T, cfg Config) { writeFile(t, cfg.Store, `{"tokens": [`) }, "reload failed; keeping the previous configuration"},
		{"invalid token", func(t *testing.T, cfg Config) {
			writeFile(t, cfg.Store, `{"tokens": [{"id": "tok_x", "digest": "00", "permission": "USER", "scopes": ["SEARCH"]}]}`)
		}, "is not 64 lowercase hex"},
		{"deleted store", func(t *testing.T, cfg Config) {
			if err := os.Remove(cfg.Store); err != nil {
				t.Fatal(err)
			}
		}, "because a file is missing"},
		{"invalid policy", func(t *testing.T, cfg Config) { writeFile(t, cfg.Policy, "scopes:\n  NOPE: {}\n") }, "NOPE"},
		{"store writable by others", func(t *testing.T, cfg Config) {
			writeStore(t, cfg.Store, revokedTokens())
			chmod(t, cfg.Store, 0o666)
		}, "users other than its owner can write it and add tokens: run chmod go-w"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, "native")
			before := healthDigest(t, f)
			c.corrupt(t, f.cfg)
			if err := f.gw.Reload(context.Background(), "test"); err == nil {
				t.Fatal("Reload succeeded, want an error")
			}
			if status, reason := searchStatus(t, f); status != 200 {
				t.Errorf("after the failed reload: status %d (%s), want 200 from the previous configuration", status, reason)
			}
			if after := healthDigest(t, f); after != before {
				t.Errorf("bundle digest changed from %s to %s", before, after)
			}
			if !strings.Contains(f.logs.String(), c.log) {
				t.Errorf("log lacks %q:\n%s", c.log, f.logs.String())
			}
			if m := metricsText(t, f); !strings.Contains(m, `tokengate_reloads_total{result="failure"} 1`) {
				t.Errorf("metrics lack one failed reload:\n%s", grepLines(m, "tokengate_reloads_total"))
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReload_UnchangedKeepsEngine(t *testing.T) {
	f := newFixture(t, trackingEngine)
	first := lastTracked(t)
	if err := f.gw.Reload(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	if lastTracked(t) != first || first.isClosed() {
		t.Errorf("an unchanged reload replaced or closed the engine: %v", first)
	}
	if !strings.Contains(f.logs.String(), "configuration unchanged") {
		t.Errorf("log lacks the unchanged reload:\n%s", f.logs.String())
	}
}

func TestReload_InFlightFinishesOnOldVersion(t *testing.T) {
	f := newFixture(t, trackingEngine)
	old := lastTracked(t)
	arrived := make(chan struct{})
	release := make(chan struct{})
	blocking := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "done")
	}))
	defer blocking.Close()
	u, _ := url.Parse(blocking.URL)
	f.gw.SetUpstream(u)

	type result struct {
		status int
		body   string
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", f.server.URL+"/rest/api/v1/search", nil)
		req.Header.Set("Authorization", "Bearer "+userSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{status: -1, body: err.Error()}
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, string(body)}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the upstream")
	}

	writeStore(t, f.cfg.Store, revokedTokens())
	if err := f.gw.Reload(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	if lastTracked(t) == old {
		t.Fatal("reload did not open a new engine")
	}
	time.Sleep(100 * time.Millisecond)
	if old.isClosed() {
		t.Fatal("the old engine was closed while a request that started on it was in flight")
	}
	close(release)
	r := <-done
	if r.status != 200 || r.body != "done" {
		t.Errorf("in-flight request: status %d body %q, want 200 done", r.status, r.body)
	}
	waitFor(t, 5*time.Second, "the old engine to close", old.isClosed)
}

func TestWatch_ReloadsOnFileChange(t *testing.T) {
	f := newFixture(t, "native")
	stop, err := f.gw.Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	writeFile(t, f.cfg.Store, `{"tokens": [`)
	waitFor(t, 5*time.Second, "the failed reload of a corrupt store", func() bool {
		return strings.Contains(f.logs.String(), "reload failed")
	})
	if status, reason := searchStatus(t, f); status != 200 {
		t.Errorf("after a corrupt store: status %d (%s), want 200 from the previous store", status, reason)
	}

	writeStore(t, f.cfg.Store, revokedTokens())
	waitFor(t, 5*time.Second, "the revoked token to be rejected", func() bool {
		_, reason := searchStatus(t, f)
		return reason == "revoked_token"
	})
	if !strings.Contains(f.logs.String(), `"cause":"file change"`) {
		t.Errorf("log lacks a reload caused by the file change:\n%s", f.logs.String())
	}
}

// chmod sets the mode of the file at path.
func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestWatch_ReloadsAfterModeFix checks that a store that others can write is rejected on
// reload, and that the chmod that fixes its mode reloads it.
func TestWatch_ReloadsAfterModeFix(t *testing.T) {
	f := newFixture(t, "native")
	stop, err := f.gw.Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	chmod(t, f.cfg.Store, 0o646)
	store, err := core.NewStore(revokedTokens())
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(store)
	if err != nil {
		t.Fatal(err)
	}
	// WriteFile keeps the mode of the existing file.
	writeFile(t, f.cfg.Store, string(data))
	waitFor(t, 5*time.Second, "the failed reload of a store that others can write", func() bool {
		return strings.Contains(f.logs.String(), "run chmod o-w "+f.cfg.Store)
	})
	if status, reason := searchStatus(t, f); status != 200 {
		t.Errorf("after a store that others can write: status %d (%s), want 200 from the previous store", status, reason)
	}

	chmod(t, f.cfg.Store, 0o600)
	waitFor(t, 5*time.Second, "the revoked token to be rejected after the chmod", func() bool {
		_, reason := searchStatus(t, f)
		return reason == "revoked_token"
	})
}

func TestHealthz_Configured(t *testing.T) {
	for _, name := range testEngines() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, name)
			resp, body := rawRequest(t, f.addr(t), "GET", HealthzPath, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
			}
			var h health
			if err := json.Unmarshal(body, &h); err != nil {
				t.Fatal(err)
			}
			if h.Engine != name {
				t.Errorf("engine = %q, want %q", h.Engine, name)
			}
			if !strings.HasPrefix(h.BundleDigest, "sha256:") || len(h.BundleDigest) != len("sha256:")+64 {
				t.Errorf("bundle digest = %q, want sha256: and 64 hex digits", h.BundleDigest)
			}
			if h.Tokens != 3 {
				t.Errorf("tokens = %d, want 3", h.Tokens)
			}
		})
	}
}

func TestHealthz_NotConfigured(t *testing.T) {
	f := newFixture(t, "native")
	f.gw.Close()
	resp, body := rawRequest(t, f.addr(t), "GET", HealthzPath, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503; body %s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), `"status":"not_configured"`) {
		t.Errorf("body = %s, want status not_configured", body)
	}
}

func metricsText(t *testing.T, f *fixture) string {
	t.Helper()
	resp, body := rawRequest(t, f.addr(t), "GET", MetricsPath, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics status = %d, want 200", resp.StatusCode)
	}
	return string(body)
}

func grepLines(text, substr string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func TestMetrics_CountsDecisionsAndReloads(t *testing.T) {
	f := newFixture(t, "native")
	searchStatus(t, f)
	searchStatus(t, f)
	rawRequest(t, f.addr(t), "POST", "/rest/api/v1/chat", [][2]string{{"Authorization", "Bearer " + userSecret}})
	m := metricsText(t, f)
	for _, want := range []string{
		`tokengate_decisions_total{reason="ok"} 2`,
		`tokengate_decisions_total{reason="scope_missing"} 1`,
		`tokengate_decisions_total{reason="revoked_token"} 0`,
		`tokengate_decision_duration_seconds_count 3`,
		`tokengate_reloads_total{result="success"} 1`,
		`tokengate_reloads_total{result="failure"} 0`,
		`# TYPE tokengate_decision_duration_seconds histogram`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(m, "tokengate_"))
		}
	}
}
