package host_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host"
	"github.com/tokengate/tokengate/host/conformance"
	"github.com/tokengate/tokengate/host/policyfile"
)

// quietLogger drops the log lines of tests that provoke errors on purpose.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// loadCases returns the conformance file and its bundle under the default policy.
func loadCases(t testing.TB) (*conformance.File, []byte) {
	t.Helper()
	f, err := conformance.Load("../tests/testdata/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	policy, err := policyfile.Load("../scopes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := f.Bundle(policy)
	if err != nil {
		t.Fatal(err)
	}
	return f, bundle
}

// newHost starts a Host on the built module and closes it when the test ends.
func newHost(t testing.TB, opts host.Options) *host.Host {
	t.Helper()
	if opts.ModulePath == "" {
		opts.ModulePath = host.BuiltModulePath()
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger
	}
	if opts.CacheDir == "" {
		opts.CacheDir = host.CacheDirForTests()
	}
	h, err := host.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return h
}

// builtModule returns the module that TestMain built.
func builtModule() string { return host.BuiltModulePath() }

// hostOptions returns the options of a Host with the bundle.
func hostOptions(bundle []byte) host.Options { return host.Options{Bundle: bundle} }

func slicesSort(s []string) { slices.Sort(s) }

// encodeBundle returns the bundle of the default policy with the tokens.
func encodeBundle(t testing.TB, tokens []core.Token) []byte {
	t.Helper()
	policy, err := policyfile.Load("../scopes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	store, err := core.NewStore(tokens)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := core.EncodeBundle(policy, store)
	if err != nil {
		t.Fatal(err)
	}
	return bundle
}

// textLogger returns a logger that writes text lines to w.
func textLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
