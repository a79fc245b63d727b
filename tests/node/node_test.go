// Package node runs build/tokengate.wasm under the Extism JavaScript SDK in Node.js, to prove
// that the module behaves the same outside the Go host.
package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/conformance"
	"github.com/tokengate/tokengate/host/policyfile"
	"github.com/tokengate/tokengate/internal/wasmtest"
)

// nodeTimeout bounds one node or npm run.
const nodeTimeout = 3 * time.Minute

// modulePath is the module that TestMain built.
var modulePath string

func TestMain(m *testing.M) { os.Exit(wasmtest.Main(m.Run, &modulePath)) }

// requireNode returns the node binary. It skips the test when node is missing, unless CI is
// set, where a missing node is a failure.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node is not installed but CI is set: install Node.js 20 or later (%v)", err)
		}
		t.Skip("node is not installed: install Node.js 20 or later to run the Node interop tests")
	}
	installPackages(t)
	return node
}

// installPackages runs `npm ci` when the pinned packages are not installed yet.
func installPackages(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("node_modules/@extism/extism/package.json"); err == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund").CombinedOutput()
	if err != nil {
		t.Fatalf("npm ci in tests/node: %v\n%s", err, out)
	}
}

// vector is one request for the Node test, with the native decision and the expected fields.
type vector struct {
	Name     string         `json:"name"`
	Input    decideInput    `json:"input"`
	Decision core.Decision  `json:"decision"`
	Expect   map[string]any `json:"expect"`
}

// decideInput is the JSON input of the decide export.
type decideInput struct {
	core.Request
	Now time.Time `json:"now"`
}

// writeInputs writes the bundle and the vectors of the conformance file and returns their
// paths.
func writeInputs(t *testing.T) (bundlePath, vectorsPath string) {
	t.Helper()
	f, err := conformance.Load("../testdata/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	policy, err := policyfile.Load("../../scopes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := f.Bundle(policy)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := core.DecodeBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	var vectors []vector
	for _, c := range f.Cases {
		vectors = append(vectors, vector{
			Name:     c.Name,
			Input:    decideInput{c.Request(), c.Instant(f)},
			Decision: v.Decide(c.Request(), c.Instant(f)),
			Expect:   c.Expect,
		})
	}
	data, err := json.Marshal(vectors)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bundlePath = filepath.Join(dir, "bundle.json")
	vectorsPath = filepath.Join(dir, "vectors.json")
	if err := os.WriteFile(bundlePath, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return bundlePath, vectorsPath
}

// runNode runs node with args in this folder and returns its exit code and output.
func runNode(t *testing.T, node string, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("node %v timed out after %s", args, nodeTimeout)
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatalf("node %v: %v", args, err)
	}
	return 0, stdout.String(), stderr.String()
}

func TestNode_ConformanceThroughExtismJS(t *testing.T) {
	node := requireNode(t)
	bundlePath, vectorsPath := writeInputs(t)
	code, stdout, stderr := runNode(t, node, []string{
		"TOKENGATE_MODULE=" + modulePath,
		"TOKENGATE_BUNDLE=" + bundlePath,
		"TOKENGATE_VECTORS=" + vectorsPath,
	}, "--test", "--test-reporter=tap", "decide.test.mjs")
	if code != 0 {
		t.Fatalf("node --test exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !bytes.Contains([]byte(stdout), []byte("# fail 0")) {
		t.Errorf("node --test output has no '# fail 0' line:\n%s", stdout)
	}
	t.Logf("node --test summary:\n%s", tail(stdout, 9))
}

// TestNode_EmbeddingExample runs validator.mjs, the embedding example of docs/embedding.md,
// as a program for an allowed and a denied request.
func TestNode_EmbeddingExample(t *testing.T) {
	node := requireNode(t)
	bundlePath, _ := writeInputs(t)
	f, err := conformance.Load("../testdata/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	allowed := `{"method": "POST", "path": "/rest/api/v1/search", "now": "2026-06-01T12:00:00Z",
		"headers": [["Authorization", "Bearer ` + f.Secrets["tok_user"] + `"]]}`
	denied := `{"method": "POST", "path": "/rest/api/v1/chat", "now": "2026-06-01T12:00:00Z",
		"headers": [["Authorization", "Bearer ` + f.Secrets["tok_user"] + `"]]}`
	tests := []struct {
		name     string
		request  string
		wantCode int
		want     core.Decision
	}{
		{"allowed", allowed, 0, core.Decision{Allow: true, Status: 200, Reason: core.ReasonOK, TokenID: "tok_user",
			Permission: core.PermissionUser, Principal: "ann@example.com", Scope: core.ScopeSearch}},
		{"denied", denied, 1, core.Decision{Status: 403, Reason: core.ReasonScopeMissing, Error: core.ErrorInsufficientScope,
			TokenID: "tok_user", Permission: core.PermissionUser, Scope: core.ScopeChat}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runNode(t, node, nil, "validator.mjs", modulePath, bundlePath, tt.request)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout, stderr)
			}
			var d core.Decision
			if err := json.Unmarshal([]byte(stdout), &d); err != nil {
				t.Fatalf("decode %q: %v", stdout, err)
			}
			if d != tt.want {
				t.Errorf("decision %+v, want %+v", d, tt.want)
			}
		})
	}
	code, _, stderr := runNode(t, node, nil, "validator.mjs", modulePath)
	if code != 2 || !bytes.Contains([]byte(stderr), []byte("usage:")) {
		t.Errorf("missing arguments: exit code %d, stderr %q; want 2 with usage", code, stderr)
	}
	failures := []struct {
		name, bundle, request, want string
	}{
		{"missing bundle file", filepath.Join(t.TempDir(), "none.json"), `{"method": "GET", "path": "/"}`, "ENOENT"},
		{"input the module rejects", bundlePath, `{"method": "GET", "path": "/", "bogus": 1}`, "bogus"},
	}
	for _, f := range failures {
		code, _, stderr := runNode(t, node, nil, "validator.mjs", modulePath, f.bundle, f.request)
		if code != 2 {
			t.Errorf("%s: exit code %d, want 2; stderr %q", f.name, code, stderr)
		}
		if !strings.Contains(stderr, f.want) {
			t.Errorf("%s: stderr %q does not contain %q", f.name, stderr, f.want)
		}
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := bytes.Split(bytes.TrimRight([]byte(s), "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// TestNode_EmbeddingDocMatches requires every JavaScript block of docs/embedding.md to be
// copied from validator.mjs, which TestNode_EmbeddingExample runs: each part of a block
// between blank lines must appear verbatim in the file. One block must show createValidator.
func TestNode_EmbeddingDocMatches(t *testing.T) {
	const docPath = "../../docs/embedding.md"
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("validator.mjs")
	if err != nil {
		t.Fatal(err)
	}
	showsValidator := false
	text := string(doc)
	for i := 1; ; i++ {
		_, rest, found := strings.Cut(text, "```js\n")
		if !found {
			break
		}
		block, after, found := strings.Cut(rest, "```")
		if !found {
			t.Fatalf("%s: JavaScript block %d is not closed", docPath, i)
		}
		text = after
		for _, part := range strings.Split(strings.TrimSpace(block), "\n\n") {
			if !strings.Contains(string(example), part+"\n") {
				t.Errorf("%s: JavaScript block %d has lines that validator.mjs does not have verbatim:\n%s", docPath, i, part)
			}
		}
		showsValidator = showsValidator || strings.Contains(block, "export async function createValidator(")
	}
	if !showsValidator {
		t.Errorf("%s shows no JavaScript block with createValidator from validator.mjs", docPath)
	}
}
