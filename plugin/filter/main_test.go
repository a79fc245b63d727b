//go:build !wasm

package filter_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/tetratelabs/wazero"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/conformance"
	"github.com/tokengate/tokengate/host/policyfile"
	"github.com/tokengate/tokengate/plugin/emulator"
	"github.com/tokengate/tokengate/plugin/filter"
)

const repoRoot = "../.."

var (
	// moduleVM is the built filter module, shared by every test: each test starts its own
	// Host (plugin context) on it, as a proxy starts one per configuration on a running VM.
	moduleVM proxytest.WasmVMContext
	// moduleBytes is the built module, for hosts other than the SDK's emulator.
	moduleBytes []byte
	fx          *fixture
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	var err error
	if fx, err = loadFixture(); err != nil {
		fmt.Fprintf(os.Stderr, "load the test fixture: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	path, err := emulator.EnsureModule(ctx, repoRoot)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if moduleBytes, err = os.ReadFile(path); err != nil {
		fmt.Fprintf(os.Stderr, "read the filter module: %v\n", err)
		return 1
	}
	if moduleVM, err = emulator.NewModuleVM(moduleBytes); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer moduleVM.Close()
	cacheDir, err := os.MkdirTemp("", "tokengate-filter-test-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "create the compilation cache folder: %v\n", err)
		return 1
	}
	defer os.RemoveAll(cacheDir)
	if compilationCache, err = wazero.NewCompilationCacheWithDir(cacheDir); err != nil {
		fmt.Fprintf(os.Stderr, "create the compilation cache: %v\n", err)
		return 1
	}
	defer compilationCache.Close(context.Background())
	return m.Run()
}

// forEachVM runs test against the filter's Go code in this process and against the built
// module in wazero.
func forEachVM(t *testing.T, test func(t *testing.T, vm types.VMContext)) {
	t.Helper()
	t.Run("go", func(t *testing.T) { test(t, filter.NewVMContext()) })
	t.Run("wasm", func(t *testing.T) { test(t, moduleVM) })
}

// fixture holds the tokens of the project's conformance file and the default policy.
type fixture struct {
	now     time.Time
	policy  *core.Policy
	tokens  []core.Token
	secrets map[string]string
}

func loadFixture() (*fixture, error) {
	f, err := conformance.Load(repoRoot + "/tests/testdata/cases.json")
	if err != nil {
		return nil, err
	}
	policy, err := policyfile.Load(repoRoot + "/scopes.yaml")
	if err != nil {
		return nil, err
	}
	return &fixture{now: f.Now, policy: policy, tokens: f.Tokens, secrets: f.Secrets}, nil
}

// bundle returns the bundle of a policy spec and tokens.
func bundle(t testing.TB, spec core.PolicySpec, tokens []core.Token) []byte {
	t.Helper()
	policy, err := core.NewPolicy(spec)
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	store, err := core.NewStore(tokens)
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	b, err := core.EncodeBundle(policy, store)
	if err != nil {
		t.Fatalf("bundle: %v", err)
	}
	return b
}

// options are the filter options of a test configuration.
type options struct {
	shadow, strip bool
}

// config returns a plugin configuration of the fixture's policy and tokens.
func config(t testing.TB, o options) []byte {
	t.Helper()
	return configFor(t, bundle(t, fx.policy.Spec(), fx.tokens), o)
}

func configFor(t testing.TB, b []byte, o options) []byte {
	t.Helper()
	c, err := filter.EncodeConfig(b, o.shadow, o.strip)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// start loads a configuration that must be accepted; the Host closes when the test ends.
func start(t testing.TB, vm types.VMContext, pluginConfig []byte) *emulator.Host {
	t.Helper()
	h := startAny(t, vm, pluginConfig)
	if !h.Started() {
		t.Fatalf("the filter rejected the configuration; logs: %v", h.Logs())
	}
	return h
}

// startAny loads a configuration whether or not the filter accepts it.
func startAny(t testing.TB, vm types.VMContext, pluginConfig []byte) *emulator.Host {
	t.Helper()
	h, err := emulator.Start(vm, pluginConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// filterHost is a filter with a configuration loaded: an *emulator.Host, or a *moduleHost for
// the tests that the SDK's emulator cannot run against the module.
type filterHost interface {
	Do(pairs [][2]string, at time.Time) (emulator.Result, error)
	Started() bool
	Counter(name string) uint64
	Logs() map[string][]string
}

// send runs a request through the filter at the fixture's instant.
func send(t testing.TB, h filterHost, method, path string, headers ...core.Header) emulator.Result {
	t.Helper()
	return sendPairs(t, h, emulator.Pairs(method, path, headers))
}

func sendPairs(t testing.TB, h filterHost, pairs [][2]string) emulator.Result {
	t.Helper()
	res, err := h.Do(pairs, fx.now)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func header(name, value string) core.Header { return core.Header{Name: name, Value: value} }

// bearer returns the Authorization field of a fixture token.
func bearer(id string) core.Header {
	return header("Authorization", "Bearer "+fx.secrets[id])
}

const apiBase = "/rest/api/v1"

// preflight returns the fields of a CORS preflight.
func preflight() []core.Header {
	return []core.Header{header("Origin", "https://app.example.com"), header("Access-Control-Request-Method", "POST")}
}

// mustDeny checks that the filter replied with status and reason and did not forward.
func mustDeny(t *testing.T, res emulator.Result, status int, reason core.Reason) {
	t.Helper()
	if res.Continued() {
		t.Fatalf("the request was forwarded, want a %d %s reply", status, reason)
	}
	if res.Action != types.ActionPause {
		t.Errorf("action = %d, want pause (%d)", res.Action, types.ActionPause)
	}
	if res.Reply == nil {
		t.Fatalf("no local reply; logs: %v", res.Logs)
	}
	if res.Reply.Status != status {
		t.Errorf("status = %d, want %d", res.Reply.Status, status)
	}
	if got := string(res.Reply.Body); !strings.Contains(got, `"reason":"`+reason.String()+`"`) {
		t.Errorf("body = %s, want reason %s", got, reason)
	}
}

// mustForward checks that the request went upstream.
func mustForward(t *testing.T, res emulator.Result) {
	t.Helper()
	if !res.Continued() {
		body := ""
		if res.Reply != nil {
			body = string(res.Reply.Body)
		}
		t.Fatalf("the request was not forwarded (action %d, reply %s); logs: %v", res.Action, body, res.Logs)
	}
}

// only returns the one value of a forwarded field, failing when there are more or none.
func only(t *testing.T, res emulator.Result, name string) string {
	t.Helper()
	values := res.Header(name)
	if len(values) != 1 {
		t.Fatalf("forwarded %s = %q, want exactly one field", name, values)
	}
	return values[0]
}
