package host

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
)

// startHost starts a Host on the built module and closes it when the test ends.
func startHost(t *testing.T, opts Options) *Host {
	t.Helper()
	opts.ModulePath = modulePath
	opts.Logger = quietLogger
	opts.CacheDir = testCacheDir
	h, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

var fixtureNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestDecide_RejectedByModule(t *testing.T) {
	bundle, req := fixtureBundle(t)
	h := startHost(t, Options{Bundle: bundle})
	// SetBundle checks bundles natively, so a bundle that only the module rejects (as one of
	// another format version would be) is stored directly.
	h.bundleMu.Lock()
	h.generation++
	h.bundle.Store(&bundleState{generation: h.generation, data: []byte(`{"format": 99}`)})
	h.bundleMu.Unlock()
	for i := range 2 {
		d, err := h.Decide(context.Background(), req, fixtureNow)
		if err == nil || !strings.Contains(err.Error(), "module rejected bundle") {
			t.Errorf("call %d: error %v, want a rejection", i, err)
		}
		if d != core.NotConfigured() {
			t.Errorf("call %d: decision %+v, want not_configured", i, d)
		}
	}
	if _, err := h.Describe(context.Background()); err == nil {
		t.Error("describe accepted the rejected bundle")
	}
	if err := h.SetBundle(bundle); err != nil {
		t.Fatal(err)
	}
	d, err := h.Decide(context.Background(), req, fixtureNow)
	if err != nil {
		t.Fatalf("decide after a valid bundle: %v", err)
	}
	if d.Reason != core.ReasonOK {
		t.Errorf("reason %s after a valid bundle, want ok", d.Reason)
	}
}

func TestDecide_CanceledContext(t *testing.T) {
	bundle, req := fixtureBundle(t)
	h := startHost(t, Options{Bundle: bundle, PoolSize: 1})
	inst, _, err := h.take(context.Background()) // hold the only instance
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	d, err := h.Decide(ctx, req, fixtureNow)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want a deadline error", err)
	}
	if d.Allow {
		t.Error("allowed without an instance")
	}
	h.put(inst, nil)
	if _, err := h.Decide(context.Background(), req, fixtureNow); err != nil {
		t.Errorf("decide after release: %v", err)
	}
}

func TestCompilationCache_SharedPerFolder(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"in memory", "", "", true},
		{"same folder", dir, dir, true},
		{"memory and folder", "", dir, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := compilationCache(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := compilationCache(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if (a == b) != tt.same {
				t.Errorf("same cache: %v, want %v", a == b, tt.same)
			}
		})
	}
}

// TestClose_ReleasesInstances fills a pool of three instances, holds one as if a decision
// were in flight, and requires Close to wait for it and then to close every instance, the
// host modules and the runtime.
func TestClose_ReleasesInstances(t *testing.T) {
	bundle, req := fixtureBundle(t)
	ctx := context.Background()
	h, err := New(ctx, Options{ModulePath: modulePath, Logger: quietLogger, CacheDir: testCacheDir, Bundle: bundle, PoolSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	var instances []*instance
	for range 3 {
		inst, _, err := h.take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		instances = append(instances, inst)
	}
	for _, inst := range instances[1:] {
		h.put(inst, nil)
	}
	inUse := instances[0]
	wasi := h.runtime.Module("wasi_snapshot_preview1")
	if wasi == nil {
		t.Fatal("the runtime has no WASI module")
	}

	closed := make(chan error, 1)
	go func() { closed <- h.Close(ctx) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while an instance was in use", err)
	case <-time.After(100 * time.Millisecond):
	}
	if inUse.module.IsClosed() {
		t.Fatal("Close closed the instance in use")
	}
	d, err := inUse.decideLean(ctx, req, fixtureNow.UnixNano(), nil)
	if err != nil || d.Reason != core.ReasonOK {
		t.Fatalf("decision in flight during Close: %+v, %v; want ok", d, err)
	}
	h.put(inUse, nil)
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}

	for i, inst := range instances {
		if !inst.module.IsClosed() {
			t.Errorf("instance %d is still open after Close", i)
		}
	}
	if !wasi.IsClosed() {
		t.Error("the WASI host module is still open after Close")
	}
	if _, err := h.runtime.CompileModule(ctx, []byte("\x00asm\x01\x00\x00\x00")); err == nil {
		t.Error("the runtime still compiles modules after Close")
	}
}
