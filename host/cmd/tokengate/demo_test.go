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

// demoProgram is the program name that the demo tests invoke the CLI as.
const demoProgram = "./build/tokengate"

// setProgramName sets the name that the CLI prints for itself until the test ends.
func setProgramName(t *testing.T, name string) {
	t.Helper()
	previous := programName
	programName = name
	t.Cleanup(func() { programName = previous })
}

// runDemoIn runs `tokengate demo` on a state folder, invoked as demoProgram, and returns its
// output and exit code. Extra arguments follow the state and policy flags.
func runDemoIn(t *testing.T, state string, extra ...string) (string, int) {
	t.Helper()
	setProgramName(t, demoProgram)
	var stdout, stderr bytes.Buffer
	args := append([]string{"demo", "--state", state, "--policy", filepath.Join(repoRoot, "scopes.yaml")}, extra...)
	code := run(args, &stdout, &stderr)
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
	for _, want := range []string{"exists", "tok_demo_user", "active", demoProgram + " token create"} {
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

// createHint matches the token create command that the demo prints, invoked as demoProgram.
var createHint = regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(demoProgram) + ` (token create .*)$`)

// splitQuoted splits a shell command line on spaces, keeping single-quoted words whole.
func splitQuoted(line string) []string {
	var words []string
	for i, part := range strings.Split(line, "'") {
		if i%2 == 1 {
			words = append(words, part)
			continue
		}
		words = append(words, strings.Fields(part)...)
	}
	return words
}

func TestDemo_CreateHintWorks(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	for _, run := range []string{"first run", "second run"} {
		out, code := runDemoIn(t, state)
		if code != exitOK {
			t.Fatalf("%s: exit code = %d, want 0", run, code)
		}
		m := createHint.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("%s: output has no token create command:\n%s", run, out)
		}
		code, stdout, stderr := cliRun(t, splitQuoted(m[1])...)
		if code != exitOK {
			t.Fatalf("%s: %q exited %d, want 0; stderr %q", run, m[1], code, stderr)
		}
		if !secretPattern.MatchString(stdout) {
			t.Errorf("%s: token create printed no secret:\n%s", run, stdout)
		}
	}
	info, err := os.Stat(filepath.Join(state, "roles.yaml"))
	if err != nil {
		t.Fatalf("demo wrote no roles file: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("roles file mode %#o, want 0600", mode)
	}
}

func TestInvokedName(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"./build/tokengate", "demo"}, "./build/tokengate"},
		{[]string{"build/tokengate"}, "build/tokengate"},
		{[]string{"tokengate"}, "tokengate"},
		{[]string{"/opt/my tools/tokengate"}, `'/opt/my tools/tokengate'`},
		{[]string{"/opt/it's/tokengate"}, `'/opt/it'\''s/tokengate'`},
		{[]string{""}, "tokengate"},
		{nil, "tokengate"},
	}
	for _, c := range cases {
		if got := invokedName(c.args); got != c.want {
			t.Errorf("invokedName(%q) = %s, want %s", c.args, got, c.want)
		}
	}
}

func TestDemo_SecondRunNamesAddress(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	first, code := runDemoIn(t, state, "--addr", "127.0.0.1:18080")
	if code != exitOK {
		t.Fatalf("first run: exit code = %d, want 0", code)
	}
	if !strings.Contains(first, "curl -i -X POST http://127.0.0.1:18080/") {
		t.Errorf("first run has no curl command for 127.0.0.1:18080:\n%s", first)
	}
	again, code := runDemoIn(t, state, "--addr", "127.0.0.1:18081")
	if code != exitOK {
		t.Fatalf("second run: exit code = %d, want 0", code)
	}
	if !strings.Contains(again, "to http://127.0.0.1:18081, the gateway address of this run") {
		t.Errorf("second run does not name its address:\n%s", again)
	}
}

func TestDemo_ReplacesOnlyOldRolesFile(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	if _, code := runDemoIn(t, state); code != exitOK {
		t.Fatalf("first run: exit code = %d, want 0", code)
	}
	rolesPath := filepath.Join(state, "roles.yaml")
	if err := os.WriteFile(rolesPath, []byte(oldDemoRoles), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runDemoIn(t, state)
	if code != exitOK {
		t.Fatalf("run on the old roles file: exit code = %d, want 0", code)
	}
	if !strings.Contains(out, "Updated the demo roles file") {
		t.Errorf("output does not report the replaced roles file:\n%s", out)
	}
	if data, err := os.ReadFile(rolesPath); err != nil || string(data) != demoRoles {
		t.Errorf("roles file = %q (%v), want the current demo roles", data, err)
	}

	edited := "super_admins: [admin@example.com]\n"
	if err := os.WriteFile(rolesPath, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = runDemoIn(t, state)
	if code != exitOK {
		t.Fatalf("run on an edited roles file: exit code = %d, want 0", code)
	}
	if strings.Contains(out, "Updated the demo roles file") {
		t.Errorf("output reports replacing an edited roles file:\n%s", out)
	}
	if data, err := os.ReadFile(rolesPath); err != nil || string(data) != edited {
		t.Errorf("roles file = %q (%v), want the edited content kept", data, err)
	}
}

func TestDemo_SecondRunAlignsLongIDs(t *testing.T) {
	var out bytes.Buffer
	tokens := []core.Token{
		{ID: "tok_short", Permission: core.PermissionUser},
		{ID: "tok_0123456789abcdef_with_a_long_tail", Permission: core.PermissionGlobal},
	}
	printDemoTokens(&out, tokens, time.Now())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("listing has %d lines, want 2:\n%s", len(lines), out.String())
	}
	first, second := strings.Index(lines[0], "USER"), strings.Index(lines[1], "GLOBAL")
	if first != second {
		t.Errorf("permission column starts at %d and %d, want one column:\n%s", first, second, out.String())
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
