// Command wasm is the tokengate decision core built as a WebAssembly module (wasip1, Go
// c-shared build mode) for Extism hosts and for the Go host in package host.
//
// The module has two ABIs on the same instance, and both decide with the bundle the instance
// holds:
//
//   - Extism exports decide and describe take and return JSON through Extism's input and
//     output. The bundle comes from the Extism config key "bundle" and is decoded on the first
//     call, because go-pdk reads config only inside an export call.
//   - Lean exports (see package internal/leanabi) take a binary request in guest memory and
//     return a binary decision, so a host needs no Extism host functions to call them. The
//     host loads the bundle with lean_load_bundle, which replaces the bundle of the instance.
//
// An instance without a valid bundle decides every request as not_configured (503).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"
	"unsafe"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/internal/leanabi"
)

// ConfigKeyBundle is the Extism config key that holds the bundle JSON.
const ConfigKeyBundle = "bundle"

// minBufferSize is the initial size of the lean request buffer, enough for typical requests.
const minBufferSize = 4096

// guest is the state of one module instance. Exports run one at a time, so it needs no lock.
type guest struct {
	// loaded is true once a bundle was read from config or loaded through the lean ABI.
	loaded    bool
	validator *core.Validator
	info      core.BundleInfo
	loadErr   error
	// cache skips the SHA-256 of credentials already found in the bundle's store; nil when
	// turned off. It is dropped on every load and, by core, whenever the validator changes.
	cache *core.CredentialCache

	// in is the lean request buffer; out and message hold the last lean result.
	in      []byte
	out     []byte
	message []byte
	req     core.Request
}

func newGuest() *guest {
	return &guest{
		in:    make([]byte, minBufferSize),
		cache: core.NewCredentialCache(0, 0),
		out:   make([]byte, 0, 256),
		req:   core.Request{Headers: make([]core.Header, 0, 16)},
	}
}

// load replaces the instance's bundle. An invalid bundle leaves the instance without one, so
// it fails closed instead of deciding with an older bundle.
func (g *guest) load(bundle []byte) error {
	g.loaded = true
	if g.cache != nil {
		g.cache.Reset()
	}
	v, info, err := core.DecodeBundle(bundle)
	if err != nil {
		g.validator, g.info, g.loadErr = nil, core.BundleInfo{}, err
		return err
	}
	g.validator, g.info, g.loadErr = v, info, nil
	// Without this collection, decisions after loading a 10,000-token bundle took about 1.5
	// times as long (BenchmarkScale in package bench). The likely cause is a collection cycle
	// that the decoding started and left open: a wasip1 module has one thread and returns to
	// the host after each export, so the cycle's background work never runs. Collecting here
	// also frees the decoding garbage before the first decision.
	runtime.GC()
	return nil
}

// setCache replaces the credential cache with an empty one bounded to entries credentials:
// the default bound for 0, and no cache for a negative value.
func (g *guest) setCache(entries int) {
	if entries < 0 {
		g.cache = nil
		return
	}
	g.cache = core.NewCredentialCache(entries, 0)
}

// loadConfig loads the bundle from the config value once per instance and returns the load
// error, if any, only on the call that loaded it so the caller logs it once.
func (g *guest) loadConfig(value string, found bool) error {
	if g.loaded {
		return nil
	}
	if !found {
		g.loaded = true
		g.loadErr = fmt.Errorf("missing config key %q: set it to the bundle JSON from 'tokengate bundle'", ConfigKeyBundle)
		return g.loadErr
	}
	return g.load([]byte(value))
}

// decideInput is the JSON input of the decide export.
type decideInput struct {
	Method  string        `json:"method"`
	Path    string        `json:"path"`
	Headers []core.Header `json:"headers"`
	// Now is the RFC 3339 instant of the decision; the host clock when absent.
	Now *time.Time `json:"now,omitempty"`
}

// decideJSON decides a JSON request and returns the decision JSON. An error means the input
// was not a valid request.
func (g *guest) decideJSON(input []byte, clock func() time.Time) ([]byte, error) {
	in, err := decodeInput(input)
	if err != nil {
		return nil, invalidInput(err)
	}
	var now time.Time
	if in.Now != nil {
		now = *in.Now
	} else {
		now = clock()
	}
	d := g.validator.DecideCached(core.Request{Method: in.Method, Path: in.Path, Headers: in.Headers}, now, g.cache)
	return encodeDecision(d)
}

// Description is the JSON output of the describe export.
type Description struct {
	// ModuleVersion is the module's version, or "(devel)" and the commit for a work tree build.
	ModuleVersion string `json:"module_version"`
	// LeanABIVersion is the layout version of the lean ABI.
	LeanABIVersion int `json:"lean_abi_version"`
	// Configured is true when the instance holds a valid bundle.
	Configured bool `json:"configured"`
	// Format, Digest, Tokens and Endpoints describe the bundle; zero when not configured.
	Format    int    `json:"format,omitempty"`
	Digest    string `json:"digest,omitempty"`
	Tokens    int    `json:"tokens"`
	Endpoints int    `json:"endpoints"`
	// CredentialCacheMax is the bound of the instance's credential cache in credentials, 0
	// when the cache is off; CachedCredentials is the number it holds.
	CredentialCacheMax int `json:"credential_cache_max"`
	CachedCredentials  int `json:"cached_credentials"`
	// Error is the load failure message when the instance holds no valid bundle.
	Error string `json:"error,omitempty"`
}

func (g *guest) describeJSON() ([]byte, error) {
	d := Description{
		ModuleVersion:  moduleVersion(),
		LeanABIVersion: leanabi.Version,
		Configured:     g.validator != nil,
		Format:         g.info.Format,
		Digest:         g.info.Digest,
		Tokens:         g.info.Tokens,
		Endpoints:      g.info.Endpoints,
	}
	if g.cache != nil {
		d.CredentialCacheMax, d.CachedCredentials = g.cache.MaxEntries(), g.cache.Len()
	}
	switch {
	case g.loadErr != nil:
		d.Error = g.loadErr.Error()
	case !g.loaded:
		d.Error = "no bundle loaded"
	}
	return json.Marshal(d)
}

// moduleVersion returns the main module's version from the build information. A build from
// a work tree has none, so it returns "(devel)" with the commit, and "+dirty" for changes that
// were not committed.
func moduleVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	if info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	revision, dirty := "", ""
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			revision = " " + s.Value[:min(12, len(s.Value))]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "+dirty"
		}
	}
	return "(devel)" + revision + dirty
}

// buffer returns the lean request buffer grown to at least n bytes.
func (g *guest) buffer(n uint32) []byte {
	if uint64(n) > uint64(cap(g.in)) {
		size := (uint64(n) + minBufferSize - 1) / minBufferSize * minBufferSize
		g.in = make([]byte, size)
	}
	return g.in[:cap(g.in)]
}

// errBufferSize is returned when a lean call names more bytes than the buffer has.
var errBufferSize = errors.New("lean abi: size is larger than the buffer; call lean_buffer first")

// loadLean loads the bundle held in the first n buffer bytes and returns the error message,
// empty on success.
func (g *guest) loadLean(n uint32) []byte {
	if uint64(n) > uint64(len(g.in)) {
		g.message = append(g.message[:0], errBufferSize.Error()...)
		return g.message
	}
	if err := g.load(g.in[:n]); err != nil {
		g.message = append(g.message[:0], err.Error()...)
		return g.message
	}
	return g.message[:0]
}

// decideLean decides the request held in the first n buffer bytes and returns the encoded
// decision. A request that does not decode is decided as not_configured, because the host and
// the module disagree about the layout.
func (g *guest) decideLean(n uint32) []byte {
	if uint64(n) > uint64(len(g.in)) {
		g.out = leanabi.AppendDecision(g.out[:0], core.NotConfigured())
		return g.out
	}
	now, err := leanabi.DecodeRequest(g.in[:n], &g.req)
	if err != nil {
		g.out = leanabi.AppendDecision(g.out[:0], core.NotConfigured())
		return g.out
	}
	d := g.validator.DecideCached(g.req, time.Unix(0, now), g.cache)
	g.out = leanabi.AppendDecision(g.out[:0], d)
	return g.out
}

// pointer returns the guest address of b's first byte, or 0 for an empty slice.
func pointer(b []byte) uint32 {
	if cap(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}
