package tests

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The demo prints each curl command below a comment that ends in the expected response, such as
// "# Denied: the USER token lacks the CHAT scope (403 scope_missing)".
var (
	demoExpectation = regexp.MustCompile(`^# .*\((\d{3})(?: (\w+))?\)$`)
	demoCurl        = regexp.MustCompile(`^curl -i -X (\S+) http://[^/]+(\S+)`)
	demoCurlHeader  = regexp.MustCompile(`-H '([^:]+): ([^']*)'`)
	demoSecret      = regexp.MustCompile(`glean_[0-9A-Za-z]{36}`)
)

// demoCommand is one curl command of the demo output and the response its comment promises.
type demoCommand struct {
	comment string
	status  int
	reason  string // "" for an allowed request
	method  string
	target  string
	headers [][2]string
}

// parseDemoCommands returns the curl commands of the demo output, each with the expectation
// in the comment line above it.
func parseDemoCommands(t *testing.T, output string) []demoCommand {
	t.Helper()
	var commands []demoCommand
	var pending *demoCommand
	for _, line := range strings.Split(output, "\n") {
		if m := demoExpectation.FindStringSubmatch(line); m != nil {
			status, _ := strconv.Atoi(m[1])
			pending = &demoCommand{comment: line, status: status, reason: m[2]}
			continue
		}
		m := demoCurl.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if pending == nil {
			t.Fatalf("curl command without an expectation comment above it: %s", line)
		}
		pending.method, pending.target = m[1], m[2]
		for _, h := range demoCurlHeader.FindAllStringSubmatch(line, -1) {
			pending.headers = append(pending.headers, [2]string{h[1], h[2]})
		}
		commands = append(commands, *pending)
		pending = nil
	}
	return commands
}

// TestServe_DemoCurlCommands runs what `make run` runs, `tokengate demo` and then `tokengate
// serve --mock-upstream` on its state folder, but on a free port, and sends the printed curl
// commands over HTTP.
func TestServe_DemoCurlCommands(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	stdout, stderr, code := runTokengate(t, "demo", "--state", state, "--policy", policyPath)
	if code != 0 {
		t.Fatalf("demo: exit %d: %s", code, stderr)
	}
	secrets := map[string]bool{}
	for _, s := range demoSecret.FindAllString(stdout, -1) {
		secrets[s] = true
	}
	if len(secrets) != 2 {
		t.Fatalf("demo printed %d distinct secrets, want 2:\n%s", len(secrets), stdout)
	}

	// The four responses that the demo promises: an allowed search, a scope denial, a GLOBAL
	// call with act-as and a GLOBAL call without it.
	want := []struct {
		status     int
		reason     string
		permission string
	}{
		{200, "", "USER"},
		{403, "scope_missing", ""},
		{200, "", "GLOBAL"},
		{400, "actas_required", ""},
	}
	commands := parseDemoCommands(t, stdout)
	if len(commands) != len(want) {
		t.Fatalf("demo printed %d curl commands, want %d:\n%s", len(commands), len(want), stdout)
	}

	s := startServe(t, "--mock-upstream", "--policy", filepath.Join(state, "scopes.yaml"),
		"--store", filepath.Join(state, "tokens.json"))
	for i, c := range commands {
		t.Run(strconv.Itoa(i+1), func(t *testing.T) {
			if c.status != want[i].status || c.reason != want[i].reason {
				t.Errorf("comment %q promises %d %s, want %d %s", c.comment, c.status, c.reason, want[i].status, want[i].reason)
			}
			resp, body := rawRequest(t, s.addr, c.method, c.target, c.headers)
			if resp.StatusCode != c.status {
				t.Fatalf("%s: status %d; body %s", c.comment, resp.StatusCode, body)
			}
			if c.status == 200 {
				var e echoBody
				if err := json.Unmarshal(body, &e); err != nil {
					t.Fatalf("%s: answered by something other than the mock upstream: %v\n%s", c.comment, err, body)
				}
				if got := e.Headers["X-Tokengate-Permission"]; len(got) != 1 || got[0] != want[i].permission {
					t.Errorf("%s: upstream X-Tokengate-Permission = %q, want [%q]", c.comment, got, want[i].permission)
				}
				if got := e.Headers["X-Tokengate-User"]; len(got) != 1 || got[0] != "ann@example.com" {
					t.Errorf("%s: upstream X-Tokengate-User = %q, want [ann@example.com]", c.comment, got)
				}
				return
			}
			var m map[string]string
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("%s: body is not tokengate's JSON: %v\n%s", c.comment, err, body)
			}
			if m["reason"] != c.reason {
				t.Errorf("%s: reason %q, want %q", c.comment, m["reason"], c.reason)
			}
		})
	}

	again, _, code := runTokengate(t, "demo", "--state", state, "--policy", policyPath)
	if code != 0 {
		t.Fatalf("second demo run: exit %d", code)
	}
	if demoSecret.MatchString(again) {
		t.Errorf("the second demo run printed a secret:\n%s", again)
	}
}

// TestDemo_CreateHintNamesBinary checks that the demo prints its token create command with the
// path the binary was started as, and that the command works when run that way.
func TestDemo_CreateHintNamesBinary(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	stdout, stderr, code := runTokengate(t, "demo", "--state", state, "--policy", policyPath)
	if code != 0 {
		t.Fatalf("demo: exit %d: %s", code, stderr)
	}
	var hint string
	for _, line := range strings.Split(stdout, "\n") {
		if rest, ok := strings.CutPrefix(line, binary+" token create "); ok {
			hint = rest
		}
	}
	if hint == "" {
		t.Fatalf("demo printed no command that starts with %s token create:\n%s", binary, stdout)
	}
	// The hint quotes only its description, which the test restores as one argument.
	before, description, _ := strings.Cut(hint, " --description '")
	description, after, _ := strings.Cut(description, "' ")
	args := append([]string{"token", "create"}, strings.Fields(before)...)
	args = append(append(args, "--description", description), strings.Fields(after)...)
	if _, stderr, code := runTokengate(t, args...); code != 0 {
		t.Errorf("the printed token create command exited %d: %s", code, stderr)
	}
}
