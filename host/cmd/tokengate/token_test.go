package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/engine"
	"github.com/tokengate/tokengate/host/policyfile"
	"github.com/tokengate/tokengate/host/tokenadmin"
)

// tokenT0 is the instant at which the token tests start their clock.
var tokenT0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	tokenSuperAdmin = "root@example.com"
	tokenPlainAdmin = "ann@example.com"
)

// repoRoot is the repository root seen from this package's folder.
var repoRoot = filepath.Join("..", "..", "..")

// tokenEnv is a temporary folder with a roles file beside a store path.
type tokenEnv struct {
	t     *testing.T
	store string
}

// newTokenEnv writes roles.yaml into a new temporary folder and sets the token clock to
// tokenT0 for the rest of the test.
func newTokenEnv(t *testing.T) *tokenEnv {
	t.Helper()
	dir := t.TempDir()
	roles := "super_admins: [" + tokenSuperAdmin + "]\nadmins: [" + tokenPlainAdmin + "]\n"
	if err := os.WriteFile(filepath.Join(dir, "roles.yaml"), []byte(roles), 0o600); err != nil {
		t.Fatal(err)
	}
	setTokenClock(t, tokenT0)
	return &tokenEnv{t: t, store: filepath.Join(dir, "tokens.json")}
}

// setTokenClock fixes the clock of the token commands at now until the test ends.
func setTokenClock(t *testing.T, now time.Time) {
	t.Helper()
	previous := tokenClock
	tokenClock = func() time.Time { return now }
	t.Cleanup(func() { tokenClock = previous })
}

// run runs `tokengate token ARGS --store STORE` in process.
func (e *tokenEnv) run(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	code = run(append(append([]string{"token"}, args...), "--store", e.store), &out, &errOut)
	return out.String(), errOut.String(), code
}

// createdToken is the JSON output of a successful create.
type createdToken struct {
	Secret string `json:"secret"`
	ID     string `json:"id"`
}

// create runs `token create` with args and --output json, and returns the new token.
func (e *tokenEnv) create(args ...string) createdToken {
	e.t.Helper()
	stdout, stderr, code := e.run(append([]string{"create", "--output", "json"}, args...)...)
	if code != exitOK {
		e.t.Fatalf("token create %q: exit %d: %s", args, code, stderr)
	}
	var c createdToken
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		e.t.Fatalf("token create output %q: %v", stdout, err)
	}
	return c
}

// userArgs are the flags of a valid USER token created by a plain admin.
func userArgs() []string {
	return []string{"--as", tokenPlainAdmin, "--permission", "USER", "--user", "bob@example.com",
		"--scopes", "SEARCH", "--description", "bob's search bot", "--expires", "90d"}
}

// files returns the content of the store and the audit log, "" for a missing file.
func (e *tokenEnv) files() [2]string {
	e.t.Helper()
	var out [2]string
	for i, path := range []string{e.store, tokenadmin.AuditPath(e.store)} {
		data, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			e.t.Fatal(err)
		}
		out[i] = string(data)
	}
	return out
}

// assertExit fails unless the exit code of what is code.
func assertExit(t *testing.T, what string, code, expect int) {
	t.Helper()
	if code != expect {
		t.Errorf("%s: exit code %d, expected %d", what, code, expect)
	}
}

// assertContains fails unless output contains expect.
func assertContains(t *testing.T, what, output, expect string) {
	t.Helper()
	if !strings.Contains(output, expect) {
		t.Errorf("%s: output %q does not contain %q", what, output, expect)
	}
}

// assertFilesUnchanged fails unless the store and the audit log equal before byte for byte.
func (e *tokenEnv) assertFilesUnchanged(before [2]string) {
	e.t.Helper()
	after := e.files()
	if after[0] != before[0] {
		e.t.Errorf("store changed:\nbefore: %q\nafter:  %q", before[0], after[0])
	}
	if after[1] != before[1] {
		e.t.Errorf("audit log changed:\nbefore: %q\nafter:  %q", before[1], after[1])
	}
}

func TestTokenCreate_PlainAdminGlobalRejected(t *testing.T) {
	e := newTokenEnv(t)
	e.create(userArgs()...)
	before := e.files()
	stdout, stderr, code := e.run("create", "--as", tokenPlainAdmin, "--permission", "GLOBAL",
		"--scopes", "SEARCH", "--description", "all users", "--expires", "never")
	if code != exitDenied {
		t.Errorf("exit code = %d, expected %d", code, exitDenied)
	}
	if !strings.Contains(stderr, "only a super admin may create a GLOBAL token") {
		t.Errorf("stderr %q does not say that GLOBAL needs a super admin", stderr)
	}
	if strings.Contains(stdout, core.TokenPrefix) {
		t.Errorf("a rejected create printed a secret: %q", stdout)
	}
	e.assertFilesUnchanged(before)
}

func TestTokenCreate_SuperAdminGlobal(t *testing.T) {
	e := newTokenEnv(t)
	c := e.create("--as", "Root@Example.com", "--permission", "GLOBAL", "--scopes", "SEARCH,PEOPLE",
		"--description", "directory sync", "--expires", "2027-01-01", "--actas-domain", "Example.com",
		"--actas-domain", "corp.example.org")
	stdout, stderr, code := e.run("show", c.ID, "--output", "json")
	if code != exitOK {
		t.Fatalf("token show: exit %d: %s", code, stderr)
	}
	var v tokenView
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatal(err)
	}
	if v.Permission != "GLOBAL" {
		t.Errorf("permission = %s, expected GLOBAL", v.Permission)
	}
	if v.Scopes != core.NewScopeSet(core.ScopeSearch, core.ScopePeople) {
		t.Errorf("scopes = %s, expected PEOPLE,SEARCH", v.Scopes)
	}
	if !slices.Equal(v.ActAsDomains, []string{"example.com", "corp.example.org"}) {
		t.Errorf("act-as domains = %q", v.ActAsDomains)
	}
	if expect := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC); v.ExpiresAt == nil || !v.ExpiresAt.Equal(expect) {
		t.Errorf("expires_at = %v, expected 2027-01-01T00:00:00Z", v.ExpiresAt)
	}
	if v.CreatedBy != tokenSuperAdmin {
		t.Errorf("created_by = %q, expected %q", v.CreatedBy, tokenSuperAdmin)
	}
}

func TestTokenCreate_SecretShownOnce(t *testing.T) {
	e := newTokenEnv(t)
	stdout, stderr, code := e.run(append([]string{"create"}, userArgs()...)...)
	if code != exitOK {
		t.Fatalf("token create: exit %d: %s", code, stderr)
	}
	secret := ""
	for _, line := range strings.Split(stdout, "\n") {
		if s, ok := strings.CutPrefix(line, "secret: "); ok {
			secret = s
		}
	}
	if core.CheckTokenFormat(secret) != nil {
		t.Fatalf("no secret line in the create output %q", stdout)
	}
	if n := strings.Count(stdout, secret); n != 1 {
		t.Errorf("create output contains the secret %d times, expected once", n)
	}
	if !strings.Contains(stdout, "cannot be shown again") {
		t.Errorf("create output %q does not say the secret cannot be shown again", stdout)
	}
	if strings.Contains(stderr, secret) {
		t.Error("create wrote the secret to stderr")
	}
	assertNoSecret(t, e, secret)
}

func TestTokenCreate_SecretShownOnceJSON(t *testing.T) {
	e := newTokenEnv(t)
	stdout, stderr, code := e.run(append([]string{"create", "--output", "json"}, userArgs()...)...)
	if code != exitOK {
		t.Fatalf("token create: exit %d: %s", code, stderr)
	}
	var c createdToken
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		t.Fatalf("create output is not one JSON value: %v", err)
	}
	if c.Secret == "" {
		t.Fatalf("create output %q has no secret", stdout)
	}
	if n := strings.Count(stdout, c.Secret); n != 1 {
		t.Errorf("create output contains the secret %d times, expected once", n)
	}
	if !strings.Contains(stderr, "cannot be shown again") {
		t.Errorf("stderr %q does not say the secret cannot be shown again", stderr)
	}
	assertNoSecret(t, e, c.Secret)
}

// assertNoSecret fails if the secret appears in the store, the audit log or the output of
// list and show, or if its digest appears anywhere but the store.
func assertNoSecret(t *testing.T, e *tokenEnv, secret string) {
	t.Helper()
	digest := core.Digest(secret)
	files := e.files()
	if strings.Contains(files[0], secret) {
		t.Error("the store contains the secret")
	}
	if !strings.Contains(files[0], digest) {
		t.Error("the store does not contain the digest of the secret")
	}
	if strings.Contains(files[1], secret) {
		t.Error("the audit log contains the secret")
	}
	if strings.Contains(files[1], digest) {
		t.Error("the audit log contains the digest")
	}

	listJSON, _, _ := e.run("list", "--output", "json")
	var views []tokenView
	if err := json.Unmarshal([]byte(listJSON), &views); err != nil || len(views) != 1 {
		t.Fatalf("list --output json = %q, %v: expected one token", listJSON, err)
	}

	outputs := map[string]string{"list json": listJSON}
	outputs["list"], _, _ = e.run("list")
	outputs["show"], _, _ = e.run("show", views[0].ID)
	outputs["show json"], _, _ = e.run("show", views[0].ID, "--output", "json")
	for name, out := range outputs {
		if !strings.Contains(out, views[0].ID) {
			t.Errorf("%s output %q does not show the token", name, out)
		}
		if strings.Contains(out, secret) {
			t.Errorf("%s output contains the secret", name)
		}
		if strings.Contains(out, digest) {
			t.Errorf("%s output contains the digest", name)
		}
	}
}

func TestTokenCreate_Errors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		expect string
	}{
		{"stranger", []string{"--as", "eve@example.com", "--permission", "USER", "--user", "bob@example.com", "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}, exitDenied, "not an admin"},
		{"missing as", []string{"--permission", "ANONYMOUS", "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}, exitUsage, "missing --as"},
		{"missing permission", []string{"--as", tokenPlainAdmin, "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}, exitUsage, "missing --permission"},
		{"missing scopes and expiry", []string{"--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--description", "x"}, exitUsage, "missing --scopes, --expires"},
		{"missing description", []string{"--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--scopes", "SEARCH", "--expires", "1d"}, exitUsage, "missing --description"},
		{"two permission flags", []string{"--as", tokenSuperAdmin, "--permission", "USER", "--permission", "GLOBAL", "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}, exitUsage, "given more than once"},
		{"two permissions in one flag", []string{"--as", tokenSuperAdmin, "--permission", "USER,GLOBAL", "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}, exitUsage, "invalid permission"},
		{"lower-case permission", []string{"--as", tokenPlainAdmin, "--permission", "anonymous", "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}, exitUsage, "invalid permission"},
		{"unknown scope", []string{"--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--scopes", "SEARCH,ADMIN", "--description", "x", "--expires", "1d"}, exitUsage, `unknown scope "ADMIN"`},
		{"duplicate scope", []string{"--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--scopes", "SEARCH,CHAT,SEARCH", "--description", "x", "--expires", "1d"}, exitUsage, "listed twice"},
		{"empty scopes", []string{"--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--scopes", "", "--description", "x", "--expires", "1d"}, exitUsage, "--scopes"},
		{"user token without user", []string{"--as", tokenPlainAdmin, "--permission", "USER", "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}, exitUsage, "needs the email"},
		{"user token with empty user", []string{"--as", tokenPlainAdmin, "--permission", "USER", "--user", "", "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}, exitUsage, "--user is empty"},
		{"anonymous token with user", []string{"--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--user", "bob@example.com", "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}, exitUsage, "has no user"},
		{"global token with user", []string{"--as", tokenSuperAdmin, "--permission", "GLOBAL", "--user", "bob@example.com", "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}, exitUsage, "has no user"},
		{"domain on a user token", []string{"--as", tokenPlainAdmin, "--permission", "USER", "--user", "bob@example.com", "--actas-domain", "example.com", "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}, exitUsage, "GLOBAL tokens only"},
		{"invalid domain", []string{"--as", tokenSuperAdmin, "--permission", "GLOBAL", "--actas-domain", "example..com", "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}, exitUsage, "not a domain name"},
		{"expiry in the past", []string{"--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--scopes", "SEARCH", "--description", "x", "--expires", "2026-05-31"}, exitUsage, "not in the future"},
		{"invalid expiry", []string{"--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--scopes", "SEARCH", "--description", "x", "--expires", "3 months"}, exitUsage, "invalid expiry"},
		{"invalid output", []string{"--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--scopes", "SEARCH", "--description", "x", "--expires", "1d", "--output", "yaml"}, exitUsage, "invalid --output"},
		{"positional argument", []string{"extra", "--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}, exitUsage, "unexpected argument"},
		{"missing roles file", []string{"--roles", "/nonexistent/roles.yaml", "--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}, exitUsage, "/nonexistent/roles.yaml"},
		{"unknown flag", []string{"--as", tokenPlainAdmin, "--permision", "ANONYMOUS"}, exitUsage, "permision"},
		{"two descriptions hide the value", []string{"--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--scopes", "SEARCH", "--description", "x", "--description", "pasted " + core.TokenPrefix + "secret", "--expires", "1d"}, exitUsage, "-description: given more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEnv(t)
			e.create(userArgs()...)
			before := e.files()
			stdout, stderr, code := e.run(append([]string{"create"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit code = %d, expected %d (stderr %q)", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.expect) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.expect)
			}
			if strings.Contains(stdout, core.TokenPrefix) {
				t.Errorf("a failed create printed a secret: %q", stdout)
			}
			if strings.Contains(stderr, core.TokenPrefix) {
				t.Errorf("a failed create repeated a secret in stderr: %q", stderr)
			}
			e.assertFilesUnchanged(before)
		})
	}
}

func TestTokenCreate_NewStoreFiles(t *testing.T) {
	e := newTokenEnv(t)
	e.create(userArgs()...)
	for _, path := range []string{e.store, tokenadmin.AuditPath(e.store), tokenadmin.LockPath(e.store)} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatalf("%s was not created: %v", filepath.Base(path), err)
		}
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %#o, expected 0600", filepath.Base(path), mode)
		}
	}
	data, err := os.ReadFile(e.store)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.ParseStore(data); err != nil {
		t.Errorf("core.ParseStore rejects the new store: %v", err)
	}
}

func TestTokenCreate_RolesFlag(t *testing.T) {
	e := newTokenEnv(t)
	elsewhere := filepath.Join(t.TempDir(), "workspace-roles.yaml")
	if err := os.WriteFile(elsewhere, []byte("admins: [carol@example.com]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--permission", "ANONYMOUS", "--scopes", "SEARCH", "--description", "x", "--expires", "1d"}
	e.create(append(args, "--roles", elsewhere, "--as", "carol@example.com")...)
	// Without --roles, the roles.yaml beside the store applies, and it does not list carol.
	_, stderr, code := e.run(append([]string{"create", "--as", "carol@example.com"}, args...)...)
	assertExit(t, "create with the default roles file", code, exitDenied)
	assertContains(t, "create with the default roles file", stderr, "not an admin")

	if err := os.Remove(filepath.Join(filepath.Dir(e.store), "roles.yaml")); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = e.run(append([]string{"create", "--as", tokenPlainAdmin}, args...)...)
	assertExit(t, "create without a roles file", code, exitUsage)
	assertContains(t, "create without a roles file", stderr, filepath.Join(filepath.Dir(e.store), "roles.yaml"))
}

func TestTokenCommand_InvalidRolesFile(t *testing.T) {
	tests := []struct {
		name   string
		roles  string
		mode   os.FileMode
		expect string
	}{
		{"unknown key", "super_admins: [root@example.com]\nadmins: [ann@example.com]\nowners: [eve@example.com]\n", 0o600, `roles.yaml:3: unknown key "owners"`},
		{"display name", "super_admins: [root@example.com]\nadmins:\n  - Ann <ann@example.com>\n", 0o600, `"Ann <ann@example.com>" is not a bare email address`},
		{"no domain dot", "super_admins: [root@localhost]\nadmins: [ann@example.com]\n", 0o600, `"root@localhost" is not a bare email address`},
		{"writable by others", "super_admins: [root@example.com]\nadmins: [ann@example.com]\n", 0o622, "chmod go-w"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEnv(t)
			c := e.create(userArgs()...)
			rolesPath := filepath.Join(filepath.Dir(e.store), "roles.yaml")
			if err := os.WriteFile(rolesPath, []byte(tt.roles), 0o600); err != nil {
				t.Fatal(err)
			}
			// Set the mode explicitly, because the umask may clear bits that WriteFile requests.
			if err := os.Chmod(rolesPath, tt.mode); err != nil {
				t.Fatal(err)
			}
			before := e.files()
			for _, args := range [][]string{
				append([]string{"create"}, userArgs()...),
				{"revoke", c.ID, "--as", tokenPlainAdmin},
				{"describe", c.ID, "--as", tokenPlainAdmin, "--description", "renamed"},
			} {
				stdout, stderr, code := e.run(args...)
				assertExit(t, args[0], code, exitUsage)
				assertContains(t, args[0], stderr, tt.expect)
				if strings.Contains(stdout, core.TokenPrefix) {
					t.Errorf("%s printed a secret although the roles file is invalid: %q", args[0], stdout)
				}
			}
			e.assertFilesUnchanged(before)
		})
	}
}

func TestTokenList_Statuses(t *testing.T) {
	e := newTokenEnv(t)
	short := e.create("--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--scopes", "SEARCH", "--description", "one hour", "--expires", "1h")
	lasting := e.create(userArgs()...)
	revoked := e.create("--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--scopes", "SEARCH,CHAT", "--description", "to revoke", "--expires", "never")
	if _, stderr, code := e.run("revoke", revoked.ID, "--as", tokenPlainAdmin); code != exitOK {
		t.Fatalf("token revoke: exit %d: %s", code, stderr)
	}
	setTokenClock(t, tokenT0.Add(2*time.Hour))

	stdout, stderr, code := e.run("list", "--output", "json")
	if code != exitOK {
		t.Fatalf("token list: exit %d: %s", code, stderr)
	}
	var views []tokenView
	if err := json.Unmarshal([]byte(stdout), &views); err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, v := range views {
		status[v.ID] = v.Status
	}
	for id, expect := range map[string]string{short.ID: "expired", lasting.ID: "active", revoked.ID: "revoked"} {
		if status[id] != expect {
			t.Errorf("status of %s = %q, expected %q", id, status[id], expect)
		}
	}
	var fields []map[string]any
	if err := json.Unmarshal([]byte(stdout), &fields); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"id", "description", "permission", "scopes", "user", "expires_at", "status", "created_by", "created_at"} {
		if _, ok := fields[1][key]; !ok {
			t.Errorf("list --output json has no %q for a USER token: %v", key, fields[1])
		}
	}
	if fields[2]["expires_at"] != nil {
		t.Errorf("expires_at of a token that never expires = %v, expected null", fields[2]["expires_at"])
	}

	table, _, _ := e.run("list")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 {
		t.Fatalf("list table = %q, expected a header and 3 rows", table)
	}
	if !strings.HasPrefix(lines[0], "ID") {
		t.Errorf("list header = %q, expected it to start with ID", lines[0])
	}
	for i, expect := range []string{short.ID + " ", lasting.ID + " ", revoked.ID + " "} {
		if !strings.HasPrefix(lines[i+1], expect) {
			t.Errorf("row %d = %q, expected it to start with %s", i+1, lines[i+1], expect)
		}
	}
	assertContains(t, "row of the USER token", lines[2], "bob@example.com")
	assertContains(t, "row of the USER token", lines[2], "active")
}

func TestTokenList_MissingStore(t *testing.T) {
	e := newTokenEnv(t)
	_, stderr, code := e.run("list")
	assertExit(t, "list of a missing store", code, exitUsage)
	assertContains(t, "list of a missing store", stderr, "file does not exist")
	if _, err := os.Stat(e.store); !errors.Is(err, fs.ErrNotExist) {
		t.Error("list created the store")
	}
}

func TestTokenList_HandEditedDescription(t *testing.T) {
	e := newTokenEnv(t)
	store, err := core.NewStore([]core.Token{{
		ID: "tok_hand", Digest: core.Digest("imported"), Permission: core.PermissionAnonymous,
		Scopes: core.NewScopeSet(core.ScopeSearch), Description: "fine\x1b[2J\nstatus: active",
	}})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := store.MarshalJSON()
	if err := os.WriteFile(e.store, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"list"}, {"show", "tok_hand"}} {
		stdout, _, code := e.run(args...)
		if code != exitOK {
			t.Fatalf("%s: exit %d", args[0], code)
		}
		if strings.Contains(stdout, "\x1b") {
			t.Errorf("%s printed an escape character from the store: %q", args[0], stdout)
		}
		if strings.Contains(stdout, "\nstatus: active") {
			t.Errorf("%s printed a line break from the store: %q", args[0], stdout)
		}
	}
}

func TestTokenShow_Text(t *testing.T) {
	e := newTokenEnv(t)
	c := e.create(userArgs()...)
	stdout, stderr, code := e.run("show", c.ID)
	if code != exitOK {
		t.Fatalf("token show: exit %d: %s", code, stderr)
	}
	for _, expect := range []string{"id:", c.ID, "permission:", "USER", "scopes:", "SEARCH", "user:", "bob@example.com",
		"expires:", "2026-08-30T12:00:00Z", "status:", "active", "created by:", tokenPlainAdmin, "description:", "bob's search bot"} {
		if !strings.Contains(stdout, expect) {
			t.Errorf("show output does not contain %q:\n%s", expect, stdout)
		}
	}
}

func TestTokenShow_Errors(t *testing.T) {
	e := newTokenEnv(t)
	e.create(userArgs()...)
	for _, args := range [][]string{{"show", "tok_missing"}, {"show"}, {"show", "a", "b"}} {
		stdout, stderr, code := e.run(args...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, expected %d", args, code, exitUsage)
		}
		if stdout != "" {
			t.Errorf("%q: stdout %q, expected nothing", args, stdout)
		}
		if stderr == "" {
			t.Errorf("%q: stderr is empty, expected an error", args)
		}
	}
}

func TestTokenUpdate_Rejected(t *testing.T) {
	e := newTokenEnv(t)
	c := e.create(userArgs()...)
	before := e.files()
	_, stderr, code := e.run("update", c.ID, "--scopes", "SEARCH,CHAT", "--as", tokenPlainAdmin)
	if code != exitUsage {
		t.Errorf("exit code = %d, expected %d", code, exitUsage)
	}
	for _, expect := range []string{"fixed at creation", "create a new token", "revoke the old one"} {
		if !strings.Contains(stderr, expect) {
			t.Errorf("stderr %q does not contain %q", stderr, expect)
		}
	}
	e.assertFilesUnchanged(before)
}

func TestTokenChange_RejectsImmutableFlags(t *testing.T) {
	flags := [][]string{
		{"--scopes", "SEARCH,CHAT"},
		{"--permission", "GLOBAL"},
		{"--user", "carol@example.com"},
		{"--expires", "never"},
		{"--actas-domain", "example.com"},
	}
	for _, command := range []string{"describe", "revoke"} {
		for _, flag := range flags {
			t.Run(command+" "+flag[0], func(t *testing.T) {
				e := newTokenEnv(t)
				c := e.create(userArgs()...)
				before := e.files()
				args := append([]string{command, c.ID, "--as", tokenPlainAdmin, "--description", "new"}, flag...)
				if command == "revoke" {
					args = append([]string{command, c.ID, "--as", tokenPlainAdmin}, flag...)
				}
				_, stderr, code := e.run(args...)
				if code != exitUsage {
					t.Errorf("exit code = %d, expected %d", code, exitUsage)
				}
				assertContains(t, command, stderr, flag[0]+" cannot be changed")
				assertContains(t, command, stderr, "create a new token")
				e.assertFilesUnchanged(before)
			})
		}
	}
}

func TestTokenDescribe(t *testing.T) {
	e := newTokenEnv(t)
	c := e.create(userArgs()...)
	stdout, stderr, code := e.run("describe", c.ID, "--description", "bob's help desk bot", "--as", tokenPlainAdmin)
	if code != exitOK {
		t.Fatalf("token describe: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "bob's help desk bot") {
		t.Errorf("describe output %q does not show the new description", stdout)
	}
	shown, _, _ := e.run("show", c.ID)
	if !strings.Contains(shown, "bob's help desk bot") {
		t.Errorf("show after describe = %q", shown)
	}
	audit := e.files()[1]
	if !strings.Contains(audit, `"action":"describe"`) {
		t.Errorf("audit log has no describe event: %s", audit)
	}
}

func TestTokenDescribe_GlobalNeedsSuperAdmin(t *testing.T) {
	e := newTokenEnv(t)
	c := e.create("--as", tokenSuperAdmin, "--permission", "GLOBAL", "--scopes", "SEARCH", "--description", "sync", "--expires", "never")
	before := e.files()
	_, stderr, code := e.run("describe", c.ID, "--description", "renamed", "--as", tokenPlainAdmin)
	assertExit(t, "describe by a plain admin", code, exitDenied)
	assertContains(t, "describe by a plain admin", stderr, "super admin")
	e.assertFilesUnchanged(before)
	if _, stderr, code := e.run("describe", c.ID, "--description", "renamed", "--as", tokenSuperAdmin); code != exitOK {
		t.Errorf("describe by a super admin: exit %d: %s", code, stderr)
	}
}

func TestTokenRevoke(t *testing.T) {
	e := newTokenEnv(t)
	global := e.create("--as", tokenSuperAdmin, "--permission", "GLOBAL", "--scopes", "SEARCH", "--description", "sync", "--expires", "never")
	before := e.files()
	if _, _, code := e.run("revoke", global.ID, "--as", "eve@example.com"); code != exitDenied {
		t.Errorf("revoke by a stranger: exit %d, expected %d", code, exitDenied)
	}
	e.assertFilesUnchanged(before)

	// Any admin may revoke a GLOBAL token.
	stdout, stderr, code := e.run("revoke", global.ID, "--as", tokenPlainAdmin)
	if code != exitOK {
		t.Fatalf("token revoke: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "Revoked token "+global.ID) {
		t.Errorf("revoke output = %q", stdout)
	}
	before = e.files()
	_, stderr, code = e.run("revoke", global.ID, "--as", tokenPlainAdmin)
	assertExit(t, "second revoke", code, exitUsage)
	assertContains(t, "second revoke", stderr, "already revoked")
	e.assertFilesUnchanged(before)

	_, stderr, code = e.run("revoke", "tok_missing", "--as", tokenPlainAdmin)
	assertExit(t, "revoke of an unknown id", code, exitUsage)
	assertContains(t, "revoke of an unknown id", stderr, "not found")
}

func TestTokenCommand_RejectsUnreadableStore(t *testing.T) {
	tests := []struct {
		name   string
		store  string
		expect string
	}{
		{"newer version", `{"version": 2, "tokens": []}`, "newer"},
		{"unknown field", `{"version": 1, "tokens": [], "retention": "30d"}`, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEnv(t)
			if err := os.WriteFile(e.store, []byte(tt.store), 0o600); err != nil {
				t.Fatal(err)
			}
			before := e.files()
			_, stderr, code := e.run(append([]string{"create"}, userArgs()...)...)
			assertExit(t, "create", code, exitUsage)
			assertContains(t, "create", stderr, tt.expect)
			assertContains(t, "create", stderr, "left unchanged")
			_, stderr, code = e.run("list")
			assertExit(t, "list", code, exitUsage)
			assertContains(t, "list", stderr, tt.expect)
			e.assertFilesUnchanged(before)
		})
	}
}

func TestTokenCommand_RejectsStoreOthersCanWrite(t *testing.T) {
	e := newTokenEnv(t)
	c := e.create(userArgs()...)
	// Set the mode explicitly, because the umask may clear bits that WriteFile requests.
	if err := os.Chmod(e.store, 0o666); err != nil {
		t.Fatal(err)
	}
	before := e.files()
	for _, args := range [][]string{
		append([]string{"create"}, userArgs()...),
		{"revoke", c.ID, "--as", tokenPlainAdmin},
		{"describe", c.ID, "--as", tokenPlainAdmin, "--description", "renamed"},
		{"list"},
		{"show", c.ID},
	} {
		stdout, stderr, code := e.run(args...)
		assertExit(t, args[0], code, exitUsage)
		assertContains(t, args[0], stderr, "has mode 0666, so users other than its owner can write it")
		assertContains(t, args[0], stderr, "run chmod go-w "+e.store)
		if stdout != "" {
			t.Errorf("%s printed %q, want nothing", args[0], stdout)
		}
	}
	e.assertFilesUnchanged(before)
}

func TestTokenCommand_ForbiddenNamesRolesFile(t *testing.T) {
	e := newTokenEnv(t)
	rolesPath := filepath.Join(filepath.Dir(e.store), "roles.yaml")
	args := append([]string{"create"}, userArgs()...)
	args[2] = "eve@example.com" // the value of --as
	_, stderr, code := e.run(args...)
	assertExit(t, "create by a stranger", code, exitDenied)
	assertContains(t, "create by a stranger", stderr, `"eve@example.com" is not an admin in the roles file `+rolesPath)
}

func TestTokenCommand_Usage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
	}{{nil, exitUsage}, {[]string{"help"}, exitOK}, {[]string{"rotate"}, exitUsage}} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"token"}, tt.args...), &stdout, &stderr)
		if code != tt.code {
			t.Errorf("token %q: exit %d, expected %d", tt.args, code, tt.code)
		}
		if !strings.Contains(stderr.String(), "usage: tokengate token") {
			t.Errorf("token %q: stderr %q has no usage", tt.args, stderr.String())
		}
	}
}

// engineModules maps the engines that load a WebAssembly module to the module's file name.
var engineModules = map[string]string{
	"extism":    "tokengate.wasm",
	"proxywasm": "tokengate-proxywasm.wasm",
}

// openEngines opens every registered engine on a bundle of scopes.yaml and the store, sharing
// the wazero compilation cache in cacheDir. An engine whose module file is not built is
// skipped with a message, except under CI=true, where CI builds every module first and a
// missing one is a failure.
// closeEngines closes every engine and fails the test on an error.
func closeEngines(t *testing.T, engines map[string]engine.Engine) {
	t.Helper()
	for name, e := range engines {
		if err := e.Close(context.Background()); err != nil {
			t.Errorf("close engine %s: %v", name, err)
		}
	}
}

func openEngines(t *testing.T, store, cacheDir string) map[string]engine.Engine {
	t.Helper()
	policy, err := policyfile.Load(filepath.Join(repoRoot, "scopes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := tokenadmin.ReadStore(store)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := core.EncodeBundle(policy, s)
	if err != nil {
		t.Fatal(err)
	}

	moduleDir := filepath.Join(repoRoot, "build")
	engines := map[string]engine.Engine{}
	for _, name := range engine.Names() {
		if module, ok := engineModules[name]; ok {
			if _, err := os.Stat(filepath.Join(moduleDir, module)); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("engine %s: module %s is missing under CI=true: run make build", name, module)
				}
				t.Logf("skipping engine %s: %s is not built (run make build)", name, filepath.Join(moduleDir, module))
				continue
			}
		}
		e, err := engine.Open(context.Background(), name, bundle, engine.Options{ModuleDir: moduleDir, CacheDir: cacheDir})
		if err != nil {
			t.Fatalf("open engine %s: %v", name, err)
		}
		t.Cleanup(func() { e.Close(context.Background()) })
		t.Logf("checking engine %s", name)
		engines[name] = e
	}
	if engines["native"] == nil {
		t.Fatal("the native engine is not registered")
	}
	return engines
}

// engineCase is a request by one token and the decision fields it expects.
type engineCase struct {
	name      string
	secret    string
	tokenID   string
	path      string
	actAs     string
	at        time.Time
	status    int
	reason    string
	principal string
}

func (c engineCase) request() core.Request {
	headers := []core.Header{{Name: "Authorization", Value: "Bearer " + c.secret}}
	if c.actAs != "" {
		headers = append(headers, core.Header{Name: "X-Glean-ActAs", Value: c.actAs})
	}
	return core.Request{Method: "POST", Path: "/rest/api/v1" + c.path, Headers: headers}
}

func checkEngines(t *testing.T, engines map[string]engine.Engine, cases []engineCase) {
	t.Helper()
	for name, e := range engines {
		for _, c := range cases {
			d, err := e.Decide(context.Background(), c.request(), c.at)
			if err != nil {
				t.Errorf("engine %s, %s: %v", name, c.name, err)
				continue
			}
			if d.Status != c.status {
				t.Errorf("engine %s, %s: status %d, expected %d", name, c.name, d.Status, c.status)
			}
			if d.Reason.String() != c.reason {
				t.Errorf("engine %s, %s: reason %s, expected %s", name, c.name, d.Reason, c.reason)
			}
			if d.TokenID != c.tokenID {
				t.Errorf("engine %s, %s: token_id %q, expected %q", name, c.name, d.TokenID, c.tokenID)
			}
			if d.Principal != c.principal {
				t.Errorf("engine %s, %s: principal %q, expected %q", name, c.name, d.Principal, c.principal)
			}
		}
	}
}

func TestTokenRevoke_EnginesRejectRevoked(t *testing.T) {
	e := newTokenEnv(t)
	user := e.create(userArgs()...)
	global := e.create("--as", tokenSuperAdmin, "--permission", "GLOBAL", "--scopes", "SEARCH",
		"--description", "sync", "--expires", "never", "--actas-domain", "example.com")
	anonymous := e.create("--as", tokenPlainAdmin, "--permission", "ANONYMOUS", "--scopes", "SEARCH",
		"--description", "search box", "--expires", "30d")

	cacheDir := t.TempDir()
	soon := tokenT0.Add(time.Minute)
	first := openEngines(t, e.store, cacheDir)
	checkEngines(t, first, []engineCase{
		{"user token searches", user.Secret, user.ID, "/search", "", soon, 200, "ok", "bob@example.com"},
		{"user token lacks chat", user.Secret, user.ID, "/chat", "", soon, 403, "scope_missing", ""},
		{"global token acts as", global.Secret, global.ID, "/search", "Carol@Example.com", soon, 200, "ok", "carol@example.com"},
		{"global token outside its domain", global.Secret, global.ID, "/search", "carol@example.org", soon, 403, "actas_domain_forbidden", ""},
		{"anonymous token searches", anonymous.Secret, anonymous.ID, "/search", "", soon, 200, "ok", ""},
	})

	revokedAt := tokenT0.Add(time.Hour)
	setTokenClock(t, revokedAt)
	for _, id := range []string{user.ID, global.ID, anonymous.ID} {
		if _, stderr, code := e.run("revoke", id, "--as", tokenPlainAdmin); code != exitOK {
			t.Fatalf("token revoke %s: exit %d: %s", id, code, stderr)
		}
	}
	later := revokedAt.Add(time.Second)
	// The proxywasm engine emulates one host per process, so the first set must be closed
	// before the second opens.
	closeEngines(t, first)
	checkEngines(t, openEngines(t, e.store, cacheDir), []engineCase{
		{"user token before its revocation", user.Secret, user.ID, "/search", "", revokedAt.Add(-time.Second), 200, "ok", "bob@example.com"},
		{"user token at its revocation", user.Secret, user.ID, "/search", "", revokedAt, 401, "revoked_token", ""},
		{"user token revoked", user.Secret, user.ID, "/search", "", later, 401, "revoked_token", ""},
		{"global token revoked", global.Secret, global.ID, "/search", "carol@example.com", later, 401, "revoked_token", ""},
		{"anonymous token revoked", anonymous.Secret, anonymous.ID, "/search", "", later, 401, "revoked_token", ""},
	})
}

// tokenHelperEnv, when set, makes TestTokenCLIHelperProcess run the CLI instead of testing.
const tokenHelperEnv = "TOKENGATE_TOKEN_TEST_HELPER_REPEAT"

// TestTokenCLIHelperProcess is not a test: TestTokenCreate_ConcurrentProcesses runs the test
// binary with it selected to get real CLI processes. It runs the arguments after "--" as a
// tokengate command the number of times that tokenHelperEnv gives, then exits.
func TestTokenCLIHelperProcess(t *testing.T) {
	repeat, err := strconv.Atoi(os.Getenv(tokenHelperEnv))
	if err != nil {
		return
	}
	i := slices.Index(os.Args, "--")
	if i < 0 {
		os.Exit(exitUsage)
	}
	code := exitOK
	for n := 0; n < repeat && code == exitOK; n++ {
		code = run(os.Args[i+1:], os.Stdout, os.Stderr)
	}
	os.Exit(code)
}

func TestTokenCreate_ConcurrentProcesses(t *testing.T) {
	const processes, perProcess = 4, 10
	e := newTokenEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"-test.run=^TestTokenCLIHelperProcess$", "--", "token", "create",
		"--store", e.store, "--output", "json"}, userArgs()...)
	var cmds []*exec.Cmd
	var outputs []*bytes.Buffer
	for p := 0; p < processes; p++ {
		cmd := exec.CommandContext(ctx, os.Args[0], args...)
		cmd.Env = append(os.Environ(), tokenHelperEnv+"="+strconv.Itoa(perProcess))
		out := &bytes.Buffer{}
		cmd.Stdout = out
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		outputs = append(outputs, out)
	}
	for p, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v", p, err)
		}
	}

	var ids []string
	for _, out := range outputs {
		dec := json.NewDecoder(out)
		for {
			var c createdToken
			if err := dec.Decode(&c); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("helper output: %v", err)
			}
			ids = append(ids, c.ID)
		}
	}
	if len(ids) != processes*perProcess {
		t.Errorf("processes reported %d tokens, expected %d", len(ids), processes*perProcess)
	}
	store, err := tokenadmin.ReadStore(e.store)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, ok := store.ByID(id); !ok {
			t.Errorf("token %s was reported created but is not in the store", id)
		}
	}
	if store.Len() != processes*perProcess {
		t.Errorf("store has %d tokens, expected %d", store.Len(), processes*perProcess)
	}
	if n := strings.Count(e.files()[1], "\n"); n != processes*perProcess {
		t.Errorf("audit log has %d lines, expected %d", n, processes*perProcess)
	}
}
