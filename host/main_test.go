package host

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/policyfile"
	"github.com/tokengate/tokengate/internal/wasmtest"
)

// modulePath is the module that TestMain builds.
var modulePath string

func TestMain(m *testing.M) { os.Exit(wasmtest.Main(m.Run, &modulePath)) }

// testCacheDir keeps wazero's compilation cache across test runs. Compiling the module takes
// about a second, but half a minute or more under -race, which the cache avoids after the
// first run. The cache is keyed by the module's content and the wazero version.
var testCacheDir = filepath.Join(os.TempDir(), "tokengate-test-wazero-cache")

// CacheDirForTests returns the compilation cache folder of the tests.
func CacheDirForTests() string { return testCacheDir }

// BuiltModulePath returns the module that TestMain built, for the external tests.
func BuiltModulePath() string { return modulePath }

// quietLogger drops the log lines of tests that provoke errors on purpose.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixtureSecret is the secret of the one token of fixtureBundle.
const fixtureSecret = "glean_gblGr2ccFaotRkgwmtVil6GCcs8dIt0ambjt"

// fixtureBundle returns a bundle of the default policy with one USER token that has the
// SEARCH scope, and a request that it allows.
func fixtureBundle(t testing.TB) ([]byte, core.Request) {
	t.Helper()
	policy, err := policyfile.Load("../scopes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	store, err := core.NewStore([]core.Token{{
		ID:         "tok_fixture",
		Digest:     core.Digest(fixtureSecret),
		Permission: core.PermissionUser,
		Scopes:     core.NewScopeSet(core.ScopeSearch),
		User:       "ann@example.com",
		CreatedAt:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}})
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := core.EncodeBundle(policy, store)
	if err != nil {
		t.Fatal(err)
	}
	req := core.Request{
		Method:  "POST",
		Path:    "/rest/api/v1/search",
		Headers: []core.Header{{Name: "Authorization", Value: "Bearer " + fixtureSecret}},
	}
	return bundle, req
}
