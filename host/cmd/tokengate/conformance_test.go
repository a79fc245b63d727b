package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// cliCasesPath is the project's conformance file, relative to this package.
var cliCasesPath = filepath.Join("..", "..", "..", "tests", "testdata", "cases.json")

// cliSummary matches the last line that the conformance command prints.
var cliSummary = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed$`)

// cliCasesFile writes a conformance file with one USER token and the given cases.
func cliCasesFile(t *testing.T, cases string) string {
	t.Helper()
	data := `{"now": "2026-06-01T12:00:00Z",
		"tokens": [{"id": "tok_u", "secret": "glean_000000000000000000000000000000` + `4LyLie",
			"permission": "USER", "user": "ann@example.com", "scopes": ["SEARCH"]}],
		"cases": [` + cases + `]}`
	path := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatalf("write cases: %v", err)
	}
	return path
}

const (
	cliPassingCase = `{"name": "user searches", "method": "POST", "path": "/rest/api/v1/search",
		"headers": [["Authorization", "Bearer glean_000000000000000000000000000000` + `4LyLie"]],
		"expect": {"allow": true, "reason": "ok", "principal": "ann@example.com"}}`
	cliFailingCase = `{"name": "expects the wrong reason", "method": "POST", "path": "/rest/api/v1/search",
		"headers": [], "expect": {"status": 401, "reason": "unknown_token"}}`
)

func TestConformance_ProjectFile(t *testing.T) {
	code, stdout, stderr := cliRun(t, "conformance", "--policy", cliPolicyPath, cliCasesPath)
	if code != exitOK {
		t.Fatalf("exit code %d, want %d; stdout %q, stderr %q", code, exitOK, stdout, stderr)
	}
	m := cliSummary.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("stdout %q has no \"N passed, M failed\" line", stdout)
	}
	if m[1] == "0" || m[2] != "0" {
		t.Errorf("summary %q, want every case passed", m[0])
	}
	if strings.Contains(stdout, "FAIL") {
		t.Errorf("stdout reports failures: %q", stdout)
	}
}

func TestConformance_Verbose(t *testing.T) {
	path := cliCasesFile(t, cliPassingCase)
	code, stdout, _ := cliRun(t, "conformance", "--policy", cliPolicyPath, "-v", path)
	if code != exitOK {
		t.Fatalf("exit code %d, want %d", code, exitOK)
	}
	if want := "ok    " + path + ": user searches\n"; !strings.Contains(stdout, want) {
		t.Errorf("stdout %q does not contain %q", stdout, want)
	}
}

func TestConformance_FailingCase(t *testing.T) {
	path := cliCasesFile(t, cliPassingCase+", "+cliFailingCase)
	code, stdout, _ := cliRun(t, "conformance", "--policy", cliPolicyPath, path)
	if code != exitDenied {
		t.Errorf("exit code %d, want %d", code, exitDenied)
	}
	if !strings.Contains(stdout, "1 passed, 1 failed\n") {
		t.Errorf("stdout %q does not report 1 passed, 1 failed", stdout)
	}
	for _, want := range []string{
		"FAIL  " + path + ": expects the wrong reason",
		`reason: expected "unknown_token", actual "missing_token"`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout %q does not contain %q", stdout, want)
		}
	}
}

func TestConformance_BrokenFiles(t *testing.T) {
	dir := t.TempDir()
	invalid := filepath.Join(dir, "invalid.json")
	if err := os.WriteFile(invalid, []byte(`{"cases": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "unreadable.json")
	if err := os.Mkdir(unreadable, 0o700); err != nil { // a folder cannot be read as a file
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		want string
	}{
		{"missing file", filepath.Join(dir, "none.json"), "read conformance file"},
		{"unreadable file", unreadable, "read conformance file"},
		{"invalid json", invalid, "invalid.json: unexpected end of JSON input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := cliRun(t, "conformance", "--policy", cliPolicyPath, c.path)
			if code == exitOK {
				t.Errorf("exit code %d, want non-zero", code)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q does not contain %q", stderr, c.want)
			}
			if !strings.Contains(stdout, "0 passed, 0 failed") {
				t.Errorf("stdout %q, want the summary 0 passed, 0 failed", stdout)
			}
		})
	}
}

func TestConformance_BrokenFileWithGoodFile(t *testing.T) {
	good := cliCasesFile(t, cliPassingCase)
	code, stdout, _ := cliRun(t, "conformance", "--policy", cliPolicyPath, filepath.Join(t.TempDir(), "none.json"), good)
	if code == exitOK {
		t.Errorf("exit code %d, want non-zero when one file cannot be read", code)
	}
	if !strings.Contains(stdout, "1 passed, 0 failed") {
		t.Errorf("stdout %q, want the good file's case counted", stdout)
	}
}

func TestConformance_UsageErrors(t *testing.T) {
	good := cliCasesFile(t, cliPassingCase)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown engine", []string{"--engine", "quantum", good}, `unknown engine "quantum": want one of `},
		{"no files", nil, "name at least one conformance file"},
		{"unreadable policy", []string{"--policy", filepath.Join(t.TempDir(), "none.yaml"), good}, "read policy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"conformance", "--policy", cliPolicyPath}, c.args...)
			code, _, stderr := cliRun(t, args...)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q does not contain %q", stderr, c.want)
			}
		})
	}
}

func TestConformance_UnknownEngineListsNative(t *testing.T) {
	good := cliCasesFile(t, cliPassingCase)
	_, _, stderr := cliRun(t, "conformance", "--policy", cliPolicyPath, "--engine", "quantum", good)
	if !strings.Contains(stderr, "native") {
		t.Errorf("stderr %q does not list the native engine", stderr)
	}
	if n := strings.Count(stderr, "\n"); n != 1 {
		t.Errorf("stderr has %d lines, want one: %q", n, stderr)
	}
}
