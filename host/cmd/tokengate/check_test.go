package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/core"
)

// cliPolicyPath is the project's default policy, relative to this package.
var cliPolicyPath = filepath.Join("..", "..", "..", "scopes.yaml")

// cliRun runs the CLI in process and returns its exit code and output.
func cliRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// cliStore writes a store file with one USER token for ann@example.com with the SEARCH scope
// and returns its path and the token's secret.
func cliStore(t *testing.T) (path, secret string) {
	t.Helper()
	secret, err := core.MintToken(rand.Reader)
	if err != nil {
		t.Fatalf("MintToken: %v", err)
	}
	store, err := core.NewStore([]core.Token{{
		ID: "tok_ann", Digest: core.Digest(secret), Permission: core.PermissionUser,
		User: "ann@example.com", Scopes: core.NewScopeSet(core.ScopeSearch),
	}})
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	data, err := json.Marshal(store)
	if err != nil {
		t.Fatalf("marshal store: %v", err)
	}
	path = filepath.Join(t.TempDir(), "tokens.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("write store: %v", err)
	}
	return path, secret
}

// cliFile writes content to a file named name in a new temporary folder, with mode, and
// returns its path.
func cliFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// Set the mode explicitly, because the umask may clear bits that WriteFile requests.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// cliChmod sets the mode of the file at path.
func cliChmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// cliDecision decodes the decision that check prints.
func cliDecision(t *testing.T, stdout string) core.Decision {
	t.Helper()
	var d core.Decision
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &d); err != nil {
		t.Fatalf("check printed %q, want a decision as JSON: %v", stdout, err)
	}
	return d
}

func TestCheck_Allowed(t *testing.T) {
	store, secret := cliStore(t)
	code, stdout, stderr := cliRun(t, "check", "--policy", cliPolicyPath, "--store", store,
		"--method", "POST", "--path", "/rest/api/v1/search?q=x", "--now", "2026-06-01T12:00:00Z",
		"-H", "Authorization: Bearer "+secret)
	if code != exitOK {
		t.Fatalf("exit code %d, want %d; stderr %q", code, exitOK, stderr)
	}
	d := cliDecision(t, stdout)
	if d.Reason != core.ReasonOK {
		t.Errorf("reason %s, want ok", d.Reason)
	}
	if d.TokenID != "tok_ann" {
		t.Errorf("token id %q, want tok_ann", d.TokenID)
	}
	if d.Principal != "ann@example.com" {
		t.Errorf("principal %q, want ann@example.com", d.Principal)
	}
	if d.Scope != core.ScopeSearch {
		t.Errorf("scope %s, want SEARCH", d.Scope)
	}
	if strings.Contains(stdout+stderr, secret) {
		t.Errorf("output contains the token secret")
	}
}

func TestCheck_Denied(t *testing.T) {
	store, secret := cliStore(t)
	cases := []struct {
		name    string
		args    []string
		reason  core.Reason
		tokenID string
	}{
		{"scope missing", []string{"--method", "POST", "--path", "/rest/api/v1/chat", "-H", "Authorization: Bearer " + secret}, core.ReasonScopeMissing, "tok_ann"},
		{"no token", []string{"--method", "POST", "--path", "/rest/api/v1/search"}, core.ReasonMissingToken, ""},
		{"act-as on a user token", []string{"--method", "POST", "--path", "/rest/api/v1/search",
			"-H", "Authorization: Bearer " + secret, "-H", "X-Scio-ActAs: eve@example.com"}, core.ReasonActAsForbidden, "tok_ann"},
		{"default method is GET", []string{"--path", "/rest/api/v1/search", "-H", "Authorization: Bearer " + secret}, core.ReasonEndpointUnmapped, "tok_ann"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"check", "--policy", cliPolicyPath, "--store", store}, c.args...)
			code, stdout, stderr := cliRun(t, args...)
			if code != exitDenied {
				t.Fatalf("exit code %d, want %d; stderr %q", code, exitDenied, stderr)
			}
			d := cliDecision(t, stdout)
			if d.Reason != c.reason {
				t.Errorf("reason %s, want %s", d.Reason, c.reason)
			}
			if d.TokenID != c.tokenID {
				t.Errorf("token id %q, want %q", d.TokenID, c.tokenID)
			}
			if d.Allow {
				t.Errorf("allow is true for a denial")
			}
		})
	}
}

func TestCheck_UsageErrors(t *testing.T) {
	store, _ := cliStore(t)
	openStore, _ := cliStore(t)
	cliChmod(t, openStore, 0o646)
	groupStore, _ := cliStore(t)
	cliChmod(t, groupStore, 0o660)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad now", []string{"--store", store, "--path", "/rest/api/v1/search", "--now", "tomorrow"},
			`--now "tomorrow": want an RFC 3339 instant such as 2026-06-01T12:00:00Z`},
		{"now without zone", []string{"--store", store, "--path", "/rest/api/v1/search", "--now", "2026-06-01T12:00:00"},
			`--now "2026-06-01T12:00:00"`},
		{"missing store", []string{"--path", "/rest/api/v1/search"}, "--store and --path are required"},
		{"missing path", []string{"--store", store}, "--store and --path are required"},
		{"missing store file", []string{"--store", filepath.Join(t.TempDir(), "none.json"), "--path", "/rest/api/v1/search"},
			"none.json: file does not exist: check --store, or create the store with 'tokengate token create'"},
		{"store not JSON", []string{"--store", cliFile(t, "tokens.json", "# a YAML file\n", 0o600), "--path", "/x"},
			"tokens.json is invalid: line 1: invalid JSON: invalid character '#'"},
		{"empty store", []string{"--store", cliFile(t, "tokens.json", "", 0o600), "--path", "/x"},
			"tokens.json is invalid: the file is empty: fix the JSON, or restore the file from a backup"},
		{"truncated store", []string{"--store", cliFile(t, "tokens.json", `{"version":1,"tokens":[`, 0o600), "--path", "/x"},
			"tokens.json is invalid: the JSON ends early, so the file may be truncated"},
		{"store is an array", []string{"--store", cliFile(t, "tokens.json", `[]`, 0o600), "--path", "/x"},
			"tokens.json is invalid: the top level is a JSON array, want an object"},
		{"store writable by others", []string{"--store", openStore, "--path", "/x"}, "has mode 0646, so users other than its owner can write it and add tokens: run chmod o-w " + openStore},
		{"store writable by its group", []string{"--store", groupStore, "--path", "/x"}, "run chmod g-w " + groupStore},
		{"stray argument", []string{"--store", store, "--path", "/x", "stray"}, `unexpected argument "stray": check takes flags only`},
		{"method with a space", []string{"--store", store, "--path", "/x", "--method", "PO ST"}, `--method "PO ST" is not an HTTP method`},
		{"empty method", []string{"--store", store, "--path", "/x", "--method", ""}, `--method "" is not an HTTP method`},
		{"method with a slash", []string{"--store", store, "--path", "/x", "--method", "GET/1"}, `--method "GET/1" is not an HTTP method`},
		{"unreadable policy", []string{"--store", store, "--path", "/x", "--policy", filepath.Join(t.TempDir(), "none.yaml")}, "read policy"},
		{"header without colon", []string{"--store", store, "--path", "/x", "-H", "Authorization"}, `-H: header 1: want 'Name: value'`},
		{"second header without colon", []string{"--store", store, "--path", "/x", "-H", "Accept: */*", "-H", "Authorization"}, `-H: header 2: want 'Name: value'`},
		{"unknown flag", []string{"--store", store, "--path", "/x", "--verbose"}, "flag provided but not defined: -verbose"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"check", "--policy", cliPolicyPath}, c.args...)
			code, stdout, stderr := cliRun(t, args...)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q does not contain %q", stderr, c.want)
			}
		})
	}
}

// TestCheck_FlagErrorsHideSecret checks that no flag error repeats a value that contains a
// secret, whichever way the secret reaches the command line.
func TestCheck_FlagErrorsHideSecret(t *testing.T) {
	store, secret := cliStore(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"header without colon", []string{"-H", "Authorization Bearer " + secret}, "header 1: want 'Name: value'"},
		{"header flag joined to value", []string{"-HAuthorization Bearer " + secret}, "flag provided but not defined (not shown"},
		{"secret as flag name", []string{"-" + secret}, "flag provided but not defined (not shown"},
		{"secret after three dashes", []string{"---" + secret}, "bad flag syntax (not shown"},
		{"header pasted without -H", []string{"Authorization: Bearer " + secret}, "unexpected argument (not shown"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"check", "--policy", cliPolicyPath, "--store", store, "--path", "/x"}, c.args...)
			code, stdout, stderr := cliRun(t, args...)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
			}
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("output contains the secret: stderr %q", stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q does not contain %q", stderr, c.want)
			}
		})
	}
}

func TestFlagErrorMessage(t *testing.T) {
	cases := []struct {
		name, err, want string
	}{
		{"number", `invalid value "1e9" for flag -max-header-bytes: parse error`,
			`invalid value "1e9" for flag -max-header-bytes: parse error`},
		{"boolean", `invalid boolean value "maybe" for -shadow: parse error`,
			`invalid value "maybe" for flag -shadow: want true or false`},
		{"header", `invalid value "Authorization: Bearer glean_x" for flag -H: bad`,
			"invalid value for flag -H (not shown, because it may be a secret): bad"},
		{"description", `invalid value "glean_x" for flag -description: bad`,
			"invalid value for flag -description (not shown, because it may be a secret): bad"},
		{"upstream", `invalid value "http://u:glean_x@h/" for flag -upstream: bad`,
			"invalid value for flag -upstream (not shown, because it may be a secret): bad"},
		{"missing argument", "flag needs an argument: -store", "flag needs an argument: -store"},
	}
	for _, c := range cases {
		if got := flagErrorMessage(errors.New(c.err)); got != c.want {
			t.Errorf("%s: flagErrorMessage(%q) = %q, want %q", c.name, c.err, got, c.want)
		}
	}
}

func TestBundle_WritesDecodableFile(t *testing.T) {
	store, secret := cliStore(t)
	out := filepath.Join(t.TempDir(), "policy.bundle")
	code, stdout, stderr := cliRun(t, "bundle", "--policy", cliPolicyPath, "--store", store, "-o", out)
	if code != exitOK {
		t.Fatalf("exit code %d, want %d; stderr %q", code, exitOK, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing when writing a file", stdout)
	}
	info, err := os.Stat(out)
	if err != nil {
		t.Fatalf("stat bundle: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("bundle mode %o, want 600", mode)
	}

	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("read bundle: %v", err)
	}
	if bytes.Contains(data, []byte(secret)) {
		t.Errorf("bundle contains the token secret")
	}
	v, bundleInfo, err := core.DecodeBundle(bytes.TrimSpace(data))
	if err != nil {
		t.Fatalf("DecodeBundle: %v", err)
	}
	if bundleInfo.Tokens != 1 {
		t.Errorf("bundle has %d tokens, want 1", bundleInfo.Tokens)
	}

	d := v.Decide(core.Request{Method: "POST", Path: "/rest/api/v1/search",
		Headers: []core.Header{{Name: "Authorization", Value: "Bearer " + secret}}}, info.ModTime())
	if d.Reason != core.ReasonOK {
		t.Errorf("bundle validator decided %s, want ok", d.Reason)
	}
	dirEntries, err := os.ReadDir(filepath.Dir(out))
	if err != nil || len(dirEntries) != 1 {
		t.Errorf("output folder has %d entries (%v), want only the bundle", len(dirEntries), err)
	}
}

func TestBundle_StandardOutput(t *testing.T) {
	store, _ := cliStore(t)
	code, stdout, stderr := cliRun(t, "bundle", "--policy", cliPolicyPath, "--store", store)
	if code != exitOK {
		t.Fatalf("exit code %d, want %d; stderr %q", code, exitOK, stderr)
	}
	if _, _, err := core.DecodeBundle([]byte(strings.TrimSpace(stdout))); err != nil {
		t.Errorf("DecodeBundle(stdout): %v", err)
	}
}

func TestBundle_UsageErrors(t *testing.T) {
	store, _ := cliStore(t)
	openStore, _ := cliStore(t)
	cliChmod(t, openStore, 0o602)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing store", nil, "--store is required"},
		{"missing store file", []string{"--store", filepath.Join(t.TempDir(), "none.json")}, "none.json: file does not exist"},
		{"truncated store", []string{"--store", cliFile(t, "tokens.json", `{"tokens":[`, 0o600)}, "the JSON ends early"},
		{"store writable by others", []string{"--store", openStore}, "run chmod o-w " + openStore},
		{"stray argument", []string{"--store", store, "stray"}, `unexpected argument "stray": bundle takes flags only`},
		{"output folder missing", []string{"--store", store, "-o", filepath.Join(t.TempDir(), "none", "b.json")}, "write "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"bundle", "--policy", cliPolicyPath}, c.args...)
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

func TestRun_UnknownCommand(t *testing.T) {
	code, _, stderr := cliRun(t, "chekc")
	if code != exitUsage {
		t.Errorf("exit code %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, `unknown command "chekc"`) {
		t.Errorf("stderr %q does not name the unknown command", stderr)
	}
	if !strings.Contains(stderr, "  check ") {
		t.Errorf("stderr %q does not list the commands", stderr)
	}
}
