// Package extism tests the Extism module as the CLI and the gateway open it: through
// engine.Open("extism").
package extism

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokengate/tokengate/host/conformance"
	"github.com/tokengate/tokengate/host/engine"
	"github.com/tokengate/tokengate/host/policyfile"
	"github.com/tokengate/tokengate/internal/wasmtest"
)

// moduleDir is the folder with the module that TestMain built.
var moduleDir string

func TestMain(m *testing.M) {
	var path string
	os.Exit(wasmtest.Main(func() int {
		moduleDir = filepath.Dir(path)
		return m.Run()
	}, &path))
}

func openEngine(t *testing.T, name string, bundle []byte) engine.Engine {
	t.Helper()
	e, err := engine.Open(context.Background(), name, bundle, engine.Options{ModuleDir: moduleDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Errorf("close %s: %v", name, err)
		}
	})
	return e
}

// TestEngines_ConformanceAgree runs the conformance file on the native and extism engines
// and requires both to pass every case with identical decisions.
func TestEngines_ConformanceAgree(t *testing.T) {
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
	ctx := context.Background()
	native := conformance.Run(ctx, openEngine(t, "native", bundle), f)
	extism := conformance.Run(ctx, openEngine(t, "extism", bundle), f)
	if len(extism) != len(f.Cases) || len(native) != len(f.Cases) {
		t.Fatalf("%d native and %d extism results for %d cases", len(native), len(extism), len(f.Cases))
	}
	for i := range extism {
		n, x := native[i], extism[i]
		if !x.Passed() {
			t.Errorf("extism: %s: error %v, mismatches %+v", x.Case.Name, x.Err, x.Mismatches)
		}
		if !n.Passed() {
			t.Errorf("native: %s: error %v, mismatches %+v", n.Case.Name, n.Err, n.Mismatches)
		}
		if n.Decision != x.Decision {
			t.Errorf("%s:\nnative %+v\nextism %+v", x.Case.Name, n.Decision, x.Decision)
		}
	}
}

func TestEngines_ExtismMissingModule(t *testing.T) {
	_, err := engine.Open(context.Background(), "extism", nil, engine.Options{ModuleDir: t.TempDir()})
	if err == nil {
		t.Fatal("opened without a module")
	}
}

func TestEngines_ExtismInvalidBundle(t *testing.T) {
	e, err := engine.Open(context.Background(), "extism", []byte(`{}`), engine.Options{ModuleDir: moduleDir})
	if err == nil {
		e.Close(context.Background())
		t.Fatal("opened with an invalid bundle")
	}
}
