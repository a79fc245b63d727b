package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"
	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host"
)

// The functions decideSearch, newTokengatePlugin and decideWithExtism are the Go examples of
// docs/embedding.md, which shows them verbatim. TestEmbeddingDoc_GoExamplesMatch keeps the two
// copies equal, and the tests below run them.

// decideSearch starts a Host on build/tokengate.wasm with a bundle (the bytes of a file that
// 'tokengate bundle' wrote) and decides one search request that sends secret. A program keeps
// one Host for as long as it runs and calls Decide for every request.
func decideSearch(ctx context.Context, bundle []byte, secret string) (core.Decision, error) {
	h, err := host.New(ctx, host.Options{
		ModulePath: "build/tokengate.wasm",
		Bundle:     bundle,
	})
	if err != nil {
		return core.NotConfigured(), err
	}
	defer h.Close(ctx)

	d, err := h.Decide(ctx, core.Request{
		Method:  "POST",
		Path:    "/rest/api/v1/search",
		Headers: []core.Header{{Name: "Authorization", Value: "Bearer " + secret}},
	}, time.Now())
	if err != nil {
		// d is not_configured (503): deny the request.
		return d, err
	}
	return d, nil
}

// newTokengatePlugin loads build/tokengate.wasm with the Extism Go SDK and the bundle in the
// plugin config key "bundle". A Plugin runs one call at a time.
func newTokengatePlugin(ctx context.Context, bundle []byte) (*extism.Plugin, error) {
	wasm, err := os.ReadFile("build/tokengate.wasm")
	if err != nil {
		return nil, err
	}
	return extism.NewPlugin(ctx, extism.Manifest{
		Wasm:   []extism.Wasm{extism.WasmData{Data: wasm}},
		Config: map[string]string{"bundle": string(bundle)},
	}, extism.PluginConfig{
		EnableWasi:   true,
		ModuleConfig: wazero.NewModuleConfig().WithSysWalltime(), // the system clock, not wazero's fixed one
	}, nil)
}

// decideWithExtism calls the decide export with the decide JSON input. An error means deny.
func decideWithExtism(ctx context.Context, plugin *extism.Plugin, input []byte) (core.Decision, error) {
	code, out, err := plugin.CallWithContext(ctx, "decide", input)
	if err != nil {
		return core.NotConfigured(), fmt.Errorf("decide export failed with code %d: %w", code, err)
	}
	if code != 0 {
		return core.NotConfigured(), fmt.Errorf("decide export failed with code %d", code)
	}
	var d core.Decision
	if err := json.Unmarshal(out, &d); err != nil {
		return core.NotConfigured(), fmt.Errorf("decode decision %q: %w", out, err)
	}
	return d, nil
}

// embeddingDoc is the page that shows the examples.
const embeddingDoc = "../docs/embedding.md"

// chdirToBuiltModule changes the test's working directory to a temporary folder with
// build/tokengate.wasm, a link to the module that TestMain built. The examples then find the
// module where a program run from the repository root finds it.
func chdirToBuiltModule(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(host.BuiltModulePath(), filepath.Join(dir, "build", "tokengate.wasm")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
}

func TestEmbeddingDoc_HostExample(t *testing.T) {
	f, bundle := loadCases(t)
	chdirToBuiltModule(t)
	d, err := decideSearch(context.Background(), bundle, f.Secrets["tok_user"])
	if err != nil {
		t.Fatal(err)
	}
	want := core.Decision{Allow: true, Status: 200, Reason: core.ReasonOK, TokenID: "tok_user",
		Permission: core.PermissionUser, Principal: "ann@example.com", Scope: core.ScopeSearch}
	if d != want {
		t.Errorf("decision %+v, want %+v", d, want)
	}
}

// TestEmbeddingDoc_ExtismExample decides an allowed request with "now" and an expired token
// without it, which only the real clock that the example enables denies.
func TestEmbeddingDoc_ExtismExample(t *testing.T) {
	f, bundle := loadCases(t)
	chdirToBuiltModule(t)
	ctx := context.Background()
	plugin, err := newTokengatePlugin(ctx, bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer plugin.Close(ctx)

	search := core.Request{
		Method:  "POST",
		Path:    "/rest/api/v1/search",
		Headers: []core.Header{{Name: "Authorization", Value: "Bearer " + f.Secrets["tok_user"]}},
	}
	d, err := decideWithExtism(ctx, plugin, decideInput(t, search, f.Now))
	if err != nil {
		t.Fatal(err)
	}
	if d.Reason != core.ReasonOK || d.Principal != "ann@example.com" {
		t.Errorf("search: decision %+v, want ok for ann@example.com", d)
	}

	d, err = decideWithExtism(ctx, plugin, expiredTokenInput(f))
	if err != nil {
		t.Fatal(err)
	}
	if d.Reason != core.ReasonExpiredToken {
		t.Errorf("expired token at the system clock: reason %s, want expired_token", d.Reason)
	}

	d, err = decideWithExtism(ctx, plugin, []byte(`{"method": "GET", "path": "/", "extra": 1}`))
	if err == nil {
		t.Errorf("invalid input: decision %+v and no error, want an error", d)
	}
	if d != core.NotConfigured() {
		t.Errorf("invalid input: decision %+v, want not_configured", d)
	}
}

// goFunctionSources returns the source of every function declared in the Go file, with its
// doc comment, keyed by name.
func goFunctionSources(t *testing.T, name string, src []byte) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, name, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	out := map[string]string{}
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok {
			continue
		}
		start := fn.Pos()
		if fn.Doc != nil {
			start = fn.Doc.Pos()
		}
		out[fn.Name.Name] = string(src[fset.Position(start).Offset:fset.Position(fn.End()).Offset])
	}
	return out
}

// fencedBlocks returns the code blocks of a Markdown text fenced with ```lang.
func fencedBlocks(text, lang string) []string {
	var blocks []string
	for {
		_, rest, ok := strings.Cut(text, "```"+lang+"\n")
		if !ok {
			return blocks
		}
		block, after, ok := strings.Cut(rest, "```")
		if !ok {
			return blocks
		}
		blocks = append(blocks, block)
		text = after
	}
}

// TestEmbeddingDoc_GoExamplesMatch requires every Go block of docs/embedding.md to be functions
// of this file, copied verbatim and in order, and every example function to be shown.
func TestEmbeddingDoc_GoExamplesMatch(t *testing.T) {
	doc, err := os.ReadFile(embeddingDoc)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("embedding_test.go")
	if err != nil {
		t.Fatal(err)
	}
	tested := goFunctionSources(t, "embedding_test.go", src)
	var shownNames []string
	for i, block := range fencedBlocks(string(doc), "go") {
		// A block holds declarations only, so it parses as a file once it has a package clause.
		inDoc := goFunctionSources(t, fmt.Sprintf("%s, Go block %d", embeddingDoc, i+1), []byte("package example\n\n"+block))
		if len(inDoc) == 0 {
			t.Errorf("%s: Go block %d declares no function: show the tested functions of host/embedding_test.go", embeddingDoc, i+1)
			continue
		}
		var names []string
		for name := range inDoc {
			names = append(names, name)
		}
		// Order the names as the block declares them.
		slices.SortFunc(names, func(a, b string) int { return strings.Index(block, inDoc[a]) - strings.Index(block, inDoc[b]) })
		var want []string
		for _, name := range names {
			source, ok := tested[name]
			if !ok {
				t.Errorf("%s: Go block %d declares %s, which host/embedding_test.go does not", embeddingDoc, i+1, name)
				continue
			}
			want = append(want, source)
			shownNames = append(shownNames, name)
		}
		if got, w := strings.TrimSpace(block), strings.Join(want, "\n\n"); got != w {
			t.Errorf("%s: Go block %d differs from host/embedding_test.go; copy the functions verbatim:\n%s", embeddingDoc, i+1, lineDiff(w, got))
		}
	}
	for _, name := range []string{"decideSearch", "newTokengatePlugin", "decideWithExtism"} {
		if !slices.Contains(shownNames, name) {
			t.Errorf("%s shows no Go block with %s", embeddingDoc, name)
		}
	}
}

// lineDiff returns the first line where got differs from want, with its number.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl []byte
		if i < len(w) {
			wl = []byte(w[i])
		}
		if i < len(g) {
			gl = []byte(g[i])
		}
		if !bytes.Equal(wl, gl) {
			return fmt.Sprintf("line %d\n  test: %q\n  doc:  %q", i+1, wl, gl)
		}
	}
	return "no line differs"
}
