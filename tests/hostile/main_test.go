// Package hostile attacks tokengate the way a hostile client, a faulty host or a busy day
// would: raw requests that net/http clients refuse to send, guest traps, corrupt and missing
// files, an unreachable upstream, bounded loopback load, and a search for the token secret in
// everything tokengate writes. The tests run the built binary (`tokengate serve` on a loopback
// port), the built WebAssembly modules and every registered engine. Every server they talk to
// is one they start themselves on 127.0.0.1.
package hostile

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/conformance"
	"github.com/tokengate/tokengate/host/policyfile"
	"github.com/tokengate/tokengate/internal/atomicfile"
	"github.com/tokengate/tokengate/internal/wasmtest"
	"github.com/tokengate/tokengate/plugin/emulator"
)

// Paths from this package's folder.
const (
	repoRoot   = "../.."
	policyPath = "../../scopes.yaml"
	casesPath  = "../testdata/cases.json"
)

// buildTimeout bounds each build of the binary or a module on a loaded machine.
const buildTimeout = 5 * time.Minute

// buildDir holds what this process built: the binary and both modules. TestMain creates it and
// removes it at the end.
var buildDir string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tokengate-hostile-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	buildDir = dir
	return m.Run()
}

// built runs a build at most once per process and remembers its error, so a fuzz worker that
// needs only the modules never builds the binary.
type built struct {
	once sync.Once
	err  error
}

func (b *built) need(t testing.TB, build func() error) {
	t.Helper()
	b.once.Do(func() { b.err = build() })
	if b.err != nil {
		t.Fatal(b.err)
	}
}

var binaryBuild, modulesBuild built

// binaryPath builds the tokengate binary on first use and returns its path.
func binaryPath(t testing.TB) string {
	t.Helper()
	path := filepath.Join(buildDir, "tokengate")
	binaryBuild.need(t, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", path, "./host/cmd/tokengate")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build tokengate: %w\n%s", err, out)
		}
		return nil
	})
	return path
}

// moduleDir builds tokengate.wasm and tokengate-proxywasm.wasm on first use and returns the
// folder that holds them, in the layout that engine.Options.ModuleDir and --modules expect.
func moduleDir(t testing.TB) string {
	t.Helper()
	modulesBuild.need(t, func() error {
		if _, err := wasmtest.Build(buildDir); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		return emulator.BuildModule(ctx, repoRoot, filepath.Join(buildDir, emulator.ModuleName))
	})
	return buildDir
}

// fixture is the conformance file's tokens with every instant moved so that the file's "now"
// is the moment the fixture was made. The gateway decides with the wall clock, so this keeps
// each token's meaning: tok_expired is expired, tok_revoked_future is still live, and so on.
type fixture struct {
	policy  *core.Policy
	store   *core.Store
	secrets map[string]string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f, err := conformance.Load(casesPath)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := policyfile.Load(policyPath)
	if err != nil {
		t.Fatal(err)
	}
	delta := time.Now().Sub(f.Now)
	tokens := make([]core.Token, len(f.Tokens))
	for i, tok := range f.Tokens {
		for _, ts := range []*time.Time{&tok.ExpiresAt, &tok.RevokedAt, &tok.CreatedAt} {
			if !ts.IsZero() {
				*ts = ts.Add(delta)
			}
		}
		tokens[i] = tok
	}
	store, err := core.NewStore(tokens)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{policy: policy, store: store, secrets: f.Secrets}
}

// bearer returns the Authorization value of a fixture token.
func (fx *fixture) bearer(id string) string { return "Bearer " + fx.secrets[id] }

// validator returns a native validator of the fixture, the reference for expected decisions.
func (fx *fixture) validator() *core.Validator { return core.NewValidator(fx.policy, fx.store) }

// bundle returns the bundle of the fixture's policy and store.
func (fx *fixture) bundle(t testing.TB) []byte {
	t.Helper()
	b, err := core.EncodeBundle(fx.policy, fx.store)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFiles writes the fixture's store and a copy of the policy into a new folder and
// returns their paths.
func (fx *fixture) writeFiles(t testing.TB) (policy, store string) {
	t.Helper()
	dir := t.TempDir()
	policy = filepath.Join(dir, "scopes.yaml")
	data, err := os.ReadFile(policyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(policy, data, 0o600); err != nil {
		t.Fatal(err)
	}
	store = filepath.Join(dir, "tokens.json")
	writeStore(t, store, fx.store)
	return policy, store
}

// writeStore writes a store file atomically.
func writeStore(t testing.TB, path string, store *core.Store) {
	t.Helper()
	data, err := json.Marshal(store)
	if err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
