package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host"
	"github.com/tokengate/tokengate/host/engine"
	"github.com/tokengate/tokengate/host/gateway"
)

// secretForms returns the strings whose presence in any output means a leak of secret: the
// secret itself and, for a minted token, its 36 characters after the glean_ prefix, so that a
// cut or re-prefixed copy is caught too.
func secretForms(secret string) []string {
	forms := []string{secret}
	if rest, ok := strings.CutPrefix(secret, core.TokenPrefix); ok {
		forms = append(forms, rest)
	}
	return forms
}

// leakChecker reports every output that contains one of its secret forms.
type leakChecker struct {
	t     *testing.T
	forms []string
}

func newLeakChecker(t *testing.T, secrets ...string) *leakChecker {
	c := &leakChecker{t: t}
	for _, s := range secrets {
		c.forms = append(c.forms, secretForms(s)...)
	}
	return c
}

// check fails the test when output, described by where, contains a secret form.
func (c *leakChecker) check(where string, output []byte) {
	c.t.Helper()
	for _, form := range c.forms {
		if i := bytes.Index(output, []byte(form)); i >= 0 {
			start := max(0, i-80)
			c.t.Errorf("%s contains a token secret: ...%q...", where, output[start:min(len(output), i+len(form)+40)])
			return
		}
	}
}

// secretRequest is a request that carries the secret of tok_user somewhere.
type secretRequest struct {
	name string
	req  core.Request
}

// secretRequests returns requests that put secret wherever a client can: the credential, the
// path, the query, the method, the act-as value and a forged identity field, in valid and in
// rejected forms.
func secretRequests(fx *fixture) []secretRequest {
	secret := fx.secrets["tok_user"]
	const api = "/rest/api/v1"
	hdr := func(pairs ...string) []core.Header {
		var out []core.Header
		for i := 0; i+1 < len(pairs); i += 2 {
			out = append(out, core.Header{Name: pairs[i], Value: pairs[i+1]})
		}
		return out
	}
	bearer := "Bearer " + secret
	return []secretRequest{
		{"allowed", core.Request{Method: "POST", Path: api + "/search", Headers: hdr("Authorization", bearer)}},
		{"scope missing", core.Request{Method: "POST", Path: api + "/chat", Headers: hdr("Authorization", bearer)}},
		{"secret in the path", core.Request{Method: "POST", Path: api + "/" + secret, Headers: hdr("Authorization", bearer)}},
		{"secret in the query", core.Request{Method: "POST", Path: api + "/search?token=" + secret, Headers: hdr("Authorization", bearer)}},
		{"secret in a malformed path", core.Request{Method: "POST", Path: api + "//" + secret, Headers: hdr("Authorization", bearer)}},
		{"secret as the method", core.Request{Method: secret, Path: api + "/search", Headers: hdr("Authorization", bearer)}},
		{"secret without a scheme", core.Request{Method: "POST", Path: api + "/search", Headers: hdr("Authorization", secret)}},
		{"secret under basic", core.Request{Method: "POST", Path: api + "/search", Headers: hdr("Authorization", "Basic "+secret)}},
		{"secret with a bad character", core.Request{Method: "POST", Path: api + "/search", Headers: hdr("Authorization", bearer+",")}},
		{"secret with a broken checksum", core.Request{Method: "POST", Path: api + "/search", Headers: hdr("Authorization", bearer[:len(bearer)-1]+"!")}},
		{"secret beside another credential", core.Request{Method: "POST", Path: api + "/search", Headers: hdr("Authorization", fx.bearer("tok_anon"), "Authorization", bearer)}},
		{"secret as the act-as value", core.Request{Method: "POST", Path: api + "/search", Headers: hdr("Authorization", fx.bearer("tok_global"), "X-Scio-ActAs", secret)}},
		{"secret in a forged identity field", core.Request{Method: "POST", Path: api + "/search", Headers: hdr("Authorization", bearer, "X-Tokengate-User", secret)}},
	}
}

// productEngines returns the registered engines other than the ones this package adds.
func productEngines() []string {
	var out []string
	for _, name := range engine.Names() {
		if name != smallMemoryEngine {
			out = append(out, name)
		}
	}
	return out
}

func TestSecrets_Engines(t *testing.T) {
	fx := newFixture(t)
	leaks := newLeakChecker(t, fx.secrets["tok_user"])
	var logs bytes.Buffer
	previous := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(previous) })

	ctx := context.Background()
	for _, name := range productEngines() {
		t.Run(name, func(t *testing.T) {
			e, err := engine.Open(ctx, name, fx.bundle(t), engine.Options{ModuleDir: moduleDir(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(ctx)
			for _, r := range secretRequests(fx) {
				d, err := e.Decide(ctx, r.req, time.Now())
				if err != nil {
					t.Errorf("%s: %v", r.name, err)
					leaks.check(name+" error for "+r.name, []byte(err.Error()))
				}
				out, _ := json.Marshal(d)
				leaks.check(name+" decision for "+r.name, out)
			}
		})
	}
	// The Extism exports decide through JSON; their output and the guest's log are outputs too.
	h, err := host.New(ctx, host.Options{ModulePath: filepath.Join(moduleDir(t), engine.ExtismModule), Bundle: fx.bundle(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	for _, r := range secretRequests(fx) {
		input, _ := json.Marshal(map[string]any{"method": r.req.Method, "path": r.req.Path, "headers": r.req.Headers})
		out, err := h.DecideJSON(ctx, input)
		if err != nil {
			t.Errorf("DecideJSON %s: %v", r.name, err)
		}
		leaks.check("DecideJSON output for "+r.name, out)
	}
	leaks.check("the engines' log", logs.Bytes())
}

// rawSecretRequest returns the wire form of r with a Host field.
func rawSecretRequest(r core.Request, fields ...string) []byte {
	lines := []string{"Host: gateway.test"}
	for _, h := range r.Headers {
		lines = append(lines, h.Name+": "+h.Value)
	}
	return rawRequest(r.Method+" "+r.Path+" HTTP/1.1", append(lines, fields...)...)
}

// dumpResponse returns the status line, every header field and the body of resp, so a leak
// anywhere in the response is found.
func dumpResponse(resp *http.Response, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n", resp.Status)
	_ = resp.Header.Write(&b)
	b.Write(body)
	return b.Bytes()
}

func TestSecrets_Gateway(t *testing.T) {
	fx := newFixture(t)
	secret := fx.secrets["tok_user"]
	leaks := newLeakChecker(t, secret)
	policyPath, storePath := fx.writeFiles(t)
	stripPolicy := filepath.Join(t.TempDir(), "strip.yaml")
	data, err := os.ReadFile(policyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stripPolicy, bytes.Replace(data, []byte("strip_credential: false"), []byte("strip_credential: true"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	setups := []struct {
		name   string
		strip  bool
		engine string
		args   []string
	}{
		{name: "extism", engine: "extism", args: []string{"--policy", policyPath}},
		{name: "native shadow strip", strip: true, engine: "native", args: []string{"--policy", stripPolicy, "--shadow"}},
	}
	for _, setup := range setups {
		t.Run(setup.name, func(t *testing.T) {
			up := newUpstream(t, 1000)
			args := append([]string{"--engine", setup.engine, "--store", storePath, "--upstream", up.url(), "--log-level", "debug"}, setup.args...)
			s := startServe(t, args...)
			for _, r := range secretRequests(fx) {
				resp, body, err := exchange(s.addr, rawSecretRequest(r.req))
				if err != nil {
					t.Fatalf("%s: %v", r.name, err)
				}
				leaks.check("proxy answer to "+r.name, dumpResponse(resp, body))
				authz := core.Request{Method: "GET", Path: gateway.AuthzPath, Headers: r.req.Headers}
				resp, body, err = exchange(s.addr, rawSecretRequest(authz, "X-Original-Method: "+r.req.Method, "X-Original-Uri: "+r.req.Path))
				if err != nil {
					t.Fatalf("authz %s: %v", r.name, err)
				}
				leaks.check("authz answer to "+r.name, dumpResponse(resp, body))
			}
			for _, path := range []string{gateway.MetricsPath, gateway.HealthzPath} {
				_, body := s.get(t, path)
				leaks.check(path, body)
			}
			requests, _ := up.take()
			if len(requests) == 0 {
				t.Fatal("no request reached the upstream")
			}
			for i, h := range requests {
				checkUpstreamSecret(t, leaks, fmt.Sprintf("upstream request %d", i), h, setup.strip)
			}
			s.stop(t)
			for i, line := range s.logs.all() {
				leaks.check(fmt.Sprintf("serve log line %d", i+1), []byte(line))
			}
		})
	}
}

// checkUpstreamSecret checks the header fields of one upstream request. Authorization and the
// act-as fields pass through as the client sent them, unless the policy strips the credential.
// Every other field must be free of the secret.
func checkUpstreamSecret(t *testing.T, leaks *leakChecker, where string, h http.Header, strip bool) {
	t.Helper()
	if strip && len(h.Values("Authorization")) != 0 {
		t.Errorf("%s: Authorization was forwarded with strip_credential set", where)
	}
	for name, values := range h {
		if (!strip && name == "Authorization") || name == http.CanonicalHeaderKey(core.HeaderScioActAs) {
			continue
		}
		leaks.check(where+" field "+name, []byte(strings.Join(values, "\n")))
	}
}

// runCLI runs the tokengate binary and returns its combined output and exit code.
func runCLI(t *testing.T, args ...string) ([]byte, int) {
	t.Helper()
	cmd := exec.Command(binaryPath(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run tokengate %s: %v", args[0], err)
		}
	}
	return out.Bytes(), cmd.ProcessState.ExitCode()
}

func TestSecrets_CLI(t *testing.T) {
	fx := newFixture(t)
	var all []string
	for _, s := range fx.secrets {
		all = append(all, s)
	}
	leaks := newLeakChecker(t, all...)
	policyPath, storePath := fx.writeFiles(t)

	t.Run("check", func(t *testing.T) {
		for _, r := range secretRequests(fx) {
			args := []string{"check", "--policy", policyPath, "--store", storePath, "--method", r.req.Method, "--path", r.req.Path}
			for _, h := range r.req.Headers {
				args = append(args, "-H", h.Name+": "+h.Value)
			}
			out, _ := runCLI(t, args...)
			leaks.check("check output for "+r.name, out)
		}
	})
	t.Run("bundle", func(t *testing.T) {
		out, code := runCLI(t, "bundle", "--policy", policyPath, "--store", storePath)
		if code != 0 {
			t.Fatalf("bundle exit %d: %s", code, out)
		}
		leaks.check("bundle output", out)
	})
	t.Run("conformance", func(t *testing.T) {
		failing := failingCases(t)
		for _, name := range productEngines() {
			for _, cases := range []string{casesPath, failing} {
				out, _ := runCLI(t, "conformance", "--engine", name, "--modules", moduleDir(t), "--policy", policyPath, "-v", cases)
				leaks.check(name+" conformance output for "+filepath.Base(cases), out)
			}
		}
	})
	t.Run("token", func(t *testing.T) {
		checkTokenCommands(t, leaks, policyPath)
	})
}

// failingCases writes a copy of the conformance file in which every case expects status 599,
// so the conformance command prints a failure for each, and returns its path.
func failingCases(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(casesPath)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	for _, c := range f["cases"].([]any) {
		c.(map[string]any)["expect"] = map[string]any{"status": 599, "reason": "not_a_reason_of_any_case"}
	}
	out, _ := json.Marshal(f)
	path := filepath.Join(t.TempDir(), "failing.json")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var createdSecret = regexp.MustCompile(`secret: (glean_[0-9A-Za-z]{36})`)

// checkTokenCommands mints a token and checks that its secret appears once, on the create
// command's standard output, and nowhere else: not in the store, the audit log, list, show,
// revoke, or a check that uses it.
func checkTokenCommands(t *testing.T, leaks *leakChecker, policyPath string) {
	dir := t.TempDir()
	store := filepath.Join(dir, "tokens.json")
	roles := "super_admins:\n  - root@example.com\nadmins:\n  - ann@example.com\n"
	if err := os.WriteFile(filepath.Join(dir, "roles.yaml"), []byte(roles), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binaryPath(t), "token", "create", "--store", store, "--as", "ann@example.com",
		"--permission", "USER", "--user", "bob@example.com", "--scopes", "SEARCH", "--description", "leak probe", "--expires", "90d")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("token create: %v\n%s%s", err, stdout.Bytes(), stderr.Bytes())
	}
	m := createdSecret.FindSubmatch(stdout.Bytes())
	if m == nil {
		t.Fatalf("token create printed no secret:\n%s", stdout.Bytes())
	}
	minted := newLeakChecker(t, string(m[1]))
	if n := bytes.Count(stdout.Bytes(), m[1]); n != 1 {
		t.Errorf("token create printed the secret %d times, want once", n)
	}
	minted.check("token create standard error", stderr.Bytes())
	id := regexp.MustCompile(`Created token (\S+)\.`).FindSubmatch(stdout.Bytes())
	if id == nil {
		t.Fatalf("token create printed no token id:\n%s", stdout.Bytes())
	}
	tokenID := string(bytes.TrimSuffix(id[1], []byte(".")))

	out, code := runCLI(t, "check", "--policy", policyPath, "--store", store, "--method", "POST", "--path", "/rest/api/v1/search", "-H", "Authorization: Bearer "+string(m[1]))
	if code != 0 {
		t.Errorf("check with the minted token exited %d: %s", code, out)
	}
	minted.check("check output", out)
	for _, args := range [][]string{
		{"token", "list", "--store", store},
		{"token", "list", "--store", store, "--output", "json"},
		{"token", "show", "--store", store, tokenID},
		{"token", "revoke", "--store", store, "--as", "ann@example.com", tokenID},
	} {
		out, code := runCLI(t, args...)
		if code != 0 {
			t.Errorf("tokengate %s exited %d: %s", strings.Join(args[:2], " "), code, out)
		}
		minted.check("tokengate "+strings.Join(args[:2], " ")+" output", out)
		leaks.check("tokengate "+strings.Join(args[:2], " ")+" output", out)
	}
	for _, path := range []string{store, store + ".audit.jsonl"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		minted.check(filepath.Base(path), data)
	}
}
