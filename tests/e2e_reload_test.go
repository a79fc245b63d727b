package tests

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/conformance"
)

// reloadTimeout bounds how long a test waits for a reload that a file change triggers.
const reloadTimeout = 20 * time.Second

// searchAs sends an allowed-looking search with the token of id and returns the status and
// the reason (ok for a forwarded request).
func searchAs(t *testing.T, s *server, f *conformance.File, id string) (int, string) {
	t.Helper()
	resp, body := rawRequest(t, s.addr, "POST", "/rest/api/v1/search", [][2]string{{"Authorization", "Bearer " + f.Secrets[id]}})
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "ok"
	}
	var m map[string]string
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m["reason"]
}

// revokedStore returns the conformance tokens, shifted to now, with tok_user revoked a
// minute ago.
func revokedStore(t *testing.T, f *conformance.File) *core.Store {
	t.Helper()
	tokens := shiftedStore(t, f, f.Now, time.Now()).Tokens()
	for i := range tokens {
		if tokens[i].ID == "tok_user" {
			tokens[i].RevokedAt = time.Now().Add(-time.Minute)
		}
	}
	store, err := core.NewStore(tokens)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func waitReason(t *testing.T, s *server, f *conformance.File, want string) {
	t.Helper()
	deadline := time.Now().Add(reloadTimeout)
	for {
		status, reason := searchAs(t, s, f, "tok_user")
		if reason == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tok_user still gets %d %s after %s, want %s\nlog:\n%s", status, reason, reloadTimeout, want, s.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServe_ReloadRevokedToken(t *testing.T) {
	f := loadCases(t)
	store := currentStoreFile(t, f)
	s := startServe(t, "--mock-upstream", "--policy", policyPath, "--store", store)
	if status, reason := searchAs(t, s, f, "tok_user"); status != 200 {
		t.Fatalf("before the change: %d %s, want 200", status, reason)
	}
	writeStoreFile(t, store, revokedStore(t, f))
	waitReason(t, s, f, "revoked_token")
	if _, ok := s.logs.find(`"cause":"file change"`); !ok {
		t.Errorf("log lacks a reload caused by the file change:\n%s", s.logs)
	}
}

func TestServe_CorruptStoreKeepsPrevious(t *testing.T) {
	f := loadCases(t)
	store := currentStoreFile(t, f)
	s := startServe(t, "--mock-upstream", "--policy", policyPath, "--store", store)
	digest, _ := s.health(t)["bundle_digest"].(string)

	if err := os.WriteFile(store, []byte(`{"tokens": [{"id": "tok_x"`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.logs.waitFor("reload failed; keeping the previous configuration", reloadTimeout, s.exited); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, s.logs)
	}
	if status, reason := searchAs(t, s, f, "tok_user"); status != 200 {
		t.Errorf("after the corrupt store: %d %s, want 200 from the previous store", status, reason)
	}
	if got, _ := s.health(t)["bundle_digest"].(string); got != digest {
		t.Errorf("bundle digest changed from %s to %s", digest, got)
	}

	if err := os.Remove(store); err != nil {
		t.Fatal(err)
	}
	if _, err := s.logs.waitFor("because a file is missing", reloadTimeout, s.exited); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, s.logs)
	}
	if status, reason := searchAs(t, s, f, "tok_user"); status != 200 {
		t.Errorf("after deleting the store: %d %s, want 200 from the previous store", status, reason)
	}

	writeStoreFile(t, store, revokedStore(t, f))
	waitReason(t, s, f, "revoked_token")
}

// TestServe_StoreOthersCanWrite checks that a reload rejects a store that others can write and
// keeps the previous one, and that the chmod that fixes the mode loads the new store.
func TestServe_StoreOthersCanWrite(t *testing.T) {
	f := loadCases(t)
	store := currentStoreFile(t, f)
	s := startServe(t, "--mock-upstream", "--policy", policyPath, "--store", store)

	if err := os.Chmod(store, 0o646); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(revokedStore(t, f))
	if err != nil {
		t.Fatal(err)
	}
	// WriteFile keeps the mode of the existing file.
	if err := os.WriteFile(store, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.logs.waitFor("run chmod o-w "+store, reloadTimeout, s.exited); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, s.logs)
	}
	if status, reason := searchAs(t, s, f, "tok_user"); status != 200 {
		t.Errorf("after the store became writable by others: %d %s, want 200 from the previous store", status, reason)
	}

	if err := os.Chmod(store, 0o600); err != nil {
		t.Fatal(err)
	}
	waitReason(t, s, f, "revoked_token")
}

// TestServe_SIGHUP reaches the store through a symlink whose target lives in a folder the
// watcher does not watch, so only SIGHUP can make the change take effect.
func TestServe_SIGHUP(t *testing.T) {
	f := loadCases(t)
	dir := t.TempDir()
	for _, sub := range []string{"watched", "real"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(dir, "real", "tokens.json")
	link := filepath.Join(dir, "watched", "tokens.json")
	writeStoreFile(t, target, shiftedStore(t, f, f.Now, time.Now()))
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "--mock-upstream", "--policy", policyPath, "--store", link)

	want := writeStoreFile(t, target, revokedStore(t, f))
	time.Sleep(500 * time.Millisecond)
	if status, reason := searchAs(t, s, f, "tok_user"); status != 200 {
		t.Fatalf("before SIGHUP: %d %s, want 200 (the watcher should not see this change)", status, reason)
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitDigest(t, want)
	if status, reason := searchAs(t, s, f, "tok_user"); status != 401 || reason != "revoked_token" {
		t.Errorf("after SIGHUP: %d %s, want 401 revoked_token", status, reason)
	}
	if _, ok := s.logs.find(`"cause":"sighup"`); !ok {
		t.Errorf("log lacks the SIGHUP reload:\n%s", s.logs)
	}
}

func TestServe_ShutdownFinishesInFlight(t *testing.T) {
	f := loadCases(t)
	store := currentStoreFile(t, f)
	arrived := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		time.Sleep(500 * time.Millisecond)
		io.WriteString(w, "finished")
	}))
	defer upstream.Close()
	s := startServe(t, "--upstream", upstream.URL, "--policy", policyPath, "--store", store)

	type result struct {
		status int
		body   string
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", "http://"+s.addr+"/rest/api/v1/search", nil)
		req.Header.Set("Authorization", "Bearer "+f.Secrets["tok_user"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{-1, err.Error()}
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, string(body)}
	}()
	select {
	case <-arrived:
	case <-time.After(startTimeout):
		t.Fatal("the request did not reach the upstream")
	}
	if code := s.signal(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	r := <-done
	if r.status != 200 || !strings.Contains(r.body, "finished") {
		t.Errorf("in-flight request: %d %q, want 200 finished", r.status, r.body)
	}
}
