package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/policyfile"
)

// runDemoIn runs `tokengate demo` on a state folder and returns its output and exit code.
func runDemoIn(t *testing.T, state string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run([]string{"demo", "--state", state, "--policy", filepath.Join(repoRoot, "scopes.yaml")}, &stdout, &stderr)
	if stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return stdout.String(), code
}

var secretPattern = regexp.MustCompile(`glean_[0-9A-Za-z]{36}`)

func TestDemo_CreatesStateOnce(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	out, code := runDemoIn(t, state)
	if code != exitOK {
		t.Fatalf("exit code = %d, want 0; output:\n%s", code, out)
	}
	secrets := uniqueStrings(secretPattern.FindAllString(out, -1))
	if len(secrets) != 2 {
		t.Fatalf("output shows %d distinct secrets, want 2:\n%s", len(secrets), out)
	}
	storePath := filepath.Join(state, "tokens.json")
	data, err := os.ReadFile(storePath)
	if err != nil {
		t.Fatal(err)
	}
	store, err := core.ParseStore(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(data), s) {
			t.Errorf("store file contains a secret")
		}
		if err := core.CheckTokenFormat(s); err != nil {
			t.Errorf("printed secret is not in the token format: %v", err)
		}
	}
	if store.Len() != 2 {
		t.Errorf("store has %d tokens, want 2", store.Len())
	}
	if st, err := os.Stat(storePath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("store file mode = %v (%v), want 0600", st.Mode().Perm(), err)
	}
	if _, err := policyfile.Load(filepath.Join(state, "scopes.yaml")); err != nil {
		t.Errorf("demo policy does not load: %v", err)
	}

	again, code := runDemoIn(t, state)
	if code != exitOK {
		t.Fatalf("second run: exit code = %d, want 0", code)
	}
	if secretPattern.MatchString(again) {
		t.Errorf("second run prints a secret:\n%s", again)
	}
	for _, want := range []string{"exists", "tok_demo_user", "active", "tokengate token create"} {
		if !strings.Contains(again, want) {
			t.Errorf("second run output lacks %q:\n%s", want, again)
		}
	}
	after, err := os.ReadFile(storePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, data) {
		t.Error("second run changed the store file")
	}
}

// curlLine matches the demo's curl commands: method, URL path and the -H fields.
var (
	curlLine   = regexp.MustCompile(`^curl -i -X (\S+) http://[^/]+(\S+)`)
	curlHeader = regexp.MustCompile(`-H '([^:]+): ([^']*)'`)
)

func TestDemo_CurlCommandsDecideAsLabelled(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	out, code := runDemoIn(t, state)
	if code != exitOK {
		t.Fatalf("exit code = %d, want 0", code)
	}
	validator, err := loadValidator(filepath.Join(state, "scopes.yaml"), filepath.Join(state, "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ok", "scope_missing", "ok", "actas_required"}
	var got []string
	for _, line := range strings.Split(out, "\n") {
		m := curlLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		req := core.Request{Method: m[1], Path: m[2]}
		for _, h := range curlHeader.FindAllStringSubmatch(line, -1) {
			req.Headers = append(req.Headers, core.Header{Name: h[1], Value: h[2]})
		}
		got = append(got, validator.Decide(req, time.Now()).Reason.String())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the curl commands decide %v, want %v; output:\n%s", got, want, out)
	}
}

func uniqueStrings(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
