package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/engine"
	"github.com/tokengate/tokengate/internal/wasmtest"
)

// moduleDir is the folder with the tokengate.wasm that TestMain built, or "" when the extism
// engine is not part of this build.
var moduleDir string

func TestMain(m *testing.M) {
	if !slices.Contains(engine.Names(), "extism") {
		os.Exit(m.Run())
	}
	var modulePath string
	code := wasmtest.Main(func() int {
		moduleDir = filepath.Dir(modulePath)
		return m.Run()
	}, &modulePath)
	os.Exit(code)
}

// testEngines returns the engines that the table tests run against: native, and extism when
// it is registered.
func testEngines() []string {
	if moduleDir == "" {
		return []string{"native"}
	}
	return []string{"native", "extism"}
}

// Test-only engines: one that always fails, to reach the 503 path, and one that wraps native
// and records when it is closed, to check that a reload waits for requests in flight.
const (
	failingEngine  = "test-failing"
	trackingEngine = "test-tracking"
)

func init() {
	engine.Register(failingEngine, func(context.Context, []byte, engine.Options) (engine.Engine, error) {
		return failing{}, nil
	})
	engine.Register(trackingEngine, func(ctx context.Context, bundle []byte, opts engine.Options) (engine.Engine, error) {
		e, err := engine.Open(ctx, "native", bundle, opts)
		if err != nil {
			return nil, err
		}
		t := &tracked{Engine: e}
		trackedMu.Lock()
		trackedEngines = append(trackedEngines, t)
		trackedMu.Unlock()
		return t, nil
	})
}

type failing struct{}

func (failing) Decide(context.Context, core.Request, time.Time) (core.Decision, error) {
	return core.NotConfigured(), errors.New("guest trapped")
}

func (failing) Close(context.Context) error { return nil }

var (
	trackedMu      sync.Mutex
	trackedEngines []*tracked
)

// tracked is a native engine that records whether it was closed.
type tracked struct {
	engine.Engine
	mu     sync.Mutex
	closed bool
}

func (t *tracked) Close(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	return t.Engine.Close(ctx)
}

func (t *tracked) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// lastTracked returns the tracking engine opened last.
func lastTracked(t *testing.T) *tracked {
	t.Helper()
	trackedMu.Lock()
	defer trackedMu.Unlock()
	if len(trackedEngines) == 0 {
		t.Fatal("no tracking engine was opened")
	}
	return trackedEngines[len(trackedEngines)-1]
}

func (t *tracked) String() string { return fmt.Sprintf("tracked(closed=%v)", t.isClosed()) }
