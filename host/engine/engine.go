// Package engine puts the ways of deciding a request behind one interface, so the CLI, the
// conformance runner and the gateway can switch between them by name.
//
// Every engine is built from a bundle (see [core.EncodeBundle]) and must return the same
// decision as the native core for the same request and instant.
package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokengate/tokengate/core"
)

// Engine decides requests against the bundle it was opened with. Implementations are safe for
// concurrent use.
type Engine interface {
	// Decide returns the decision for req at the instant now. An error means the engine could
	// not decide (a guest trap, a failed host call); the decision returned with it is then a
	// denial, never an allow.
	Decide(ctx context.Context, req core.Request, now time.Time) (core.Decision, error)
	// Close releases the engine's resources.
	Close(ctx context.Context) error
}

// Options configure the engines that load a WebAssembly module.
type Options struct {
	// ModuleDir is the folder with the built modules (tokengate.wasm and
	// tokengate-proxywasm.wasm); "build" when empty.
	ModuleDir string
	// CacheDir, when set, keeps wazero's compilation cache there across processes.
	CacheDir string
}

// Opener builds an engine from a bundle.
type Opener func(ctx context.Context, bundle []byte, opts Options) (Engine, error)

var openers = map[string]Opener{
	"native": openNative,
}

// Register adds an engine under name. It is meant for init functions of engine packages and
// panics on a duplicate name, which is a programming error.
func Register(name string, open Opener) {
	if _, dup := openers[name]; dup {
		panic("engine: duplicate registration of " + name)
	}
	openers[name] = open
}

// Names returns the registered engine names, sorted.
func Names() []string {
	names := make([]string, 0, len(openers))
	for n := range openers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Open builds the named engine from a bundle.
func Open(ctx context.Context, name string, bundle []byte, opts Options) (Engine, error) {
	open, ok := openers[name]
	if !ok {
		return nil, fmt.Errorf("unknown engine %q: want one of %s", name, strings.Join(Names(), ", "))
	}
	return open(ctx, bundle, opts)
}

// Native decides with the core package in this process.
type Native struct {
	validator *core.Validator
}

// NewNative returns a native engine for a validator.
func NewNative(v *core.Validator) *Native { return &Native{validator: v} }

func openNative(_ context.Context, bundle []byte, _ Options) (Engine, error) {
	v, _, err := core.DecodeBundle(bundle)
	if err != nil {
		return nil, err
	}
	return NewNative(v), nil
}

// Decide returns the core's decision. It never fails.
func (n *Native) Decide(_ context.Context, req core.Request, now time.Time) (core.Decision, error) {
	return n.validator.Decide(req, now), nil
}

// Close does nothing.
func (n *Native) Close(context.Context) error { return nil }
