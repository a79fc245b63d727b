package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
)

// cliTimeout bounds one run of a tokengate CLI command.
const cliTimeout = time.Minute

// runTokengate runs the built binary with args and returns its output and exit code.
func runTokengate(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run tokengate %s: %v", args[0], err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// cliToken is the part of the `token create --output json` output that the tests read.
type cliToken struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// cliTokenKind is one kind of token that the CLI creates, and what the gateway must send
// upstream for a search with it.
type cliTokenKind struct {
	name       string
	createArgs []string
	actAs      string // X-Scio-ActAs of the search; "" sends none
	permission string
	user       string // X-Tokengate-User upstream; "" means the field must be absent
}

var cliTokenKinds = []cliTokenKind{
	{name: "user", createArgs: []string{"--as", "ann@example.com", "--permission", "USER", "--user", "bob@example.com"},
		permission: "USER", user: "bob@example.com"},
	{name: "global", createArgs: []string{"--as", "root@example.com", "--permission", "GLOBAL", "--actas-domain", "example.com"},
		actAs: "Carol@Example.com", permission: "GLOBAL", user: "carol@example.com"},
	{name: "anonymous", createArgs: []string{"--as", "ann@example.com", "--permission", "ANONYMOUS"},
		permission: "ANONYMOUS"},
}

// newAdminStore returns the path of a store that does not exist yet, in a temporary folder
// with a roles file that makes root@example.com a super admin and ann@example.com an admin.
func newAdminStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	roles := "super_admins:\n  - root@example.com\nadmins:\n  - ann@example.com\n"
	if err := os.WriteFile(filepath.Join(dir, "roles.yaml"), []byte(roles), 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "tokens.json")
}

// createWithCLI runs `tokengate token create` for kind and returns the new token.
func createWithCLI(t *testing.T, store string, kind cliTokenKind) cliToken {
	t.Helper()
	args := append([]string{"token", "create", "--store", store, "--output", "json", "--scopes", "SEARCH",
		"--description", kind.name + " token from the e2e test", "--expires", "1d"}, kind.createArgs...)
	stdout, stderr, code := runTokengate(t, args...)
	if code != 0 {
		t.Fatalf("token create %s: exit %d: %s", kind.name, code, stderr)
	}
	var tok cliToken
	if err := json.Unmarshal([]byte(stdout), &tok); err != nil {
		t.Fatalf("token create %s output %q: %v", kind.name, stdout, err)
	}
	if core.CheckTokenFormat(tok.Secret) != nil || tok.ID == "" {
		t.Fatalf("token create %s printed no id or no valid secret: %q", kind.name, stdout)
	}
	return tok
}

// storeFileDigest returns the bundle digest that the gateway reports once it has loaded the
// store file at path with the default policy.
func storeFileDigest(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	store, err := core.ParseStore(data)
	if err != nil {
		t.Fatal(err)
	}
	return bundleDigest(t, store)
}

// searchWithToken sends POST /rest/api/v1/search with the secret and the act-as address, if any.
func searchWithToken(t *testing.T, s *server, secret, actAs string) (*http.Response, []byte) {
	t.Helper()
	headers := [][2]string{{"Authorization", "Bearer " + secret}}
	if actAs != "" {
		headers = append(headers, [2]string{"X-Scio-ActAs", actAs})
	}
	return rawRequest(t, s.addr, "POST", "/rest/api/v1/search", headers)
}

// TestServe_CLITokenLifecycle creates a token of each kind with the CLI and checks that a
// running gateway accepts it with each engine. Then it revokes each token with the CLI, and the
// first request after the gateway has loaded the new store must get 401 revoked_token.
func TestServe_CLITokenLifecycle(t *testing.T) {
	engines := []string{engineName}
	if engineName != "native" {
		engines = append(engines, "native")
	}
	for _, name := range engines {
		t.Run(name, func(t *testing.T) {
			store := newAdminStore(t)
			tokens := make([]cliToken, len(cliTokenKinds))
			for i, kind := range cliTokenKinds {
				tokens[i] = createWithCLI(t, store, kind)
			}
			s := startServe(t, "--engine", name, "--mock-upstream", "--policy", policyPath, "--store", store)

			for i, kind := range cliTokenKinds {
				checkCLITokenAllowed(t, s, kind, tokens[i])
			}
			for i, kind := range cliTokenKinds {
				_, stderr, code := runTokengate(t, "token", "revoke", tokens[i].ID, "--store", store, "--as", "ann@example.com")
				if code != 0 {
					t.Fatalf("token revoke %s: exit %d: %s", kind.name, code, stderr)
				}
				s.waitDigest(t, storeFileDigest(t, store))
				checkCLITokenRevoked(t, s, kind, tokens[i])
				// The tokens not revoked yet still pass after the reload.
				for j := i + 1; j < len(cliTokenKinds); j++ {
					checkCLITokenAllowed(t, s, cliTokenKinds[j], tokens[j])
				}
			}

			for i, kind := range cliTokenKinds {
				if strings.Contains(s.logs.String(), tokens[i].Secret) {
					t.Errorf("the gateway log contains the secret of the %s token", kind.name)
				}
			}
		})
	}
}

func checkCLITokenAllowed(t *testing.T, s *server, kind cliTokenKind, tok cliToken) {
	t.Helper()
	resp, body := searchWithToken(t, s, tok.Secret, kind.actAs)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s token: status %d, want 200; body %s", kind.name, resp.StatusCode, body)
	}
	var e echoBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s token: answered by something other than the mock upstream: %v\n%s", kind.name, err, body)
	}
	want := map[string]string{
		"X-Tokengate-Token-Id":   tok.ID,
		"X-Tokengate-Permission": kind.permission,
		"X-Tokengate-Scope":      "SEARCH",
		"X-Tokengate-User":       kind.user,
	}
	for name, value := range want {
		got := e.Headers[name]
		if value == "" && len(got) != 0 {
			t.Errorf("%s token: upstream %s = %q, want none", kind.name, name, got)
		}
		if value != "" && (len(got) != 1 || got[0] != value) {
			t.Errorf("%s token: upstream %s = %q, want [%q]", kind.name, name, got, value)
		}
	}
}

func checkCLITokenRevoked(t *testing.T, s *server, kind cliTokenKind, tok cliToken) {
	t.Helper()
	resp, body := searchWithToken(t, s, tok.Secret, kind.actAs)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked %s token: status %d, want 401; body %s", kind.name, resp.StatusCode, body)
	}
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("revoked %s token: body is not tokengate's JSON: %v\n%s", kind.name, err, body)
	}
	if m["reason"] != "revoked_token" {
		t.Errorf("revoked %s token: reason %q, want revoked_token", kind.name, m["reason"])
	}
	want := `Bearer realm="glean", error="invalid_token"`
	if got := resp.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != want {
		t.Errorf("revoked %s token: WWW-Authenticate = %q, want [%q]", kind.name, got, want)
	}
}

func TestTokenCLI_PlainAdminGlobalWritesNothing(t *testing.T) {
	store := newAdminStore(t)
	createWithCLI(t, store, cliTokenKinds[0])
	before, err := os.ReadFile(store)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runTokengate(t, "token", "create", "--store", store, "--as", "ann@example.com",
		"--permission", "GLOBAL", "--scopes", "SEARCH", "--description", "all users", "--expires", "never")
	if code != 1 {
		t.Errorf("exit code = %d, want 1 (forbidden)", code)
	}
	if !strings.Contains(stderr, "only a super admin may create a GLOBAL token") {
		t.Errorf("stderr %q does not say that GLOBAL needs a super admin", stderr)
	}
	if strings.Contains(stdout, core.TokenPrefix) {
		t.Errorf("a rejected create printed a secret: %q", stdout)
	}
	after, err := os.ReadFile(store)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("a rejected create changed the store")
	}
}
