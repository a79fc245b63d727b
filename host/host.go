package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tokengate/tokengate/core"
)

// DefaultModulePath is the module that [New] loads when Options.ModulePath is empty.
const DefaultModulePath = "build/tokengate.wasm"

// DefaultMemoryLimitPages is the default limit of one instance's memory, in 64 KiB pages
// (256 MiB).
const DefaultMemoryLimitPages = 4096

// ErrNotConfigured is returned with the not_configured decision while the Host has no bundle.
var ErrNotConfigured = errors.New("host has no bundle: pass Options.Bundle or call SetBundle")

// Options configure a Host.
type Options struct {
	// ModulePath is the built module; DefaultModulePath when empty.
	ModulePath string
	// CacheDir is a folder for wazero's compilation cache, shared by every Host of the process
	// that names it and kept across processes. When empty, the Host uses an in-memory cache
	// that every Host of the process shares.
	CacheDir string
	// Bundle is the initial bundle (see [core.EncodeBundle]). When nil, every decision is
	// not_configured until SetBundle.
	Bundle []byte
	// PoolSize is the maximum number of module instances, and so of concurrent decisions;
	// runtime.GOMAXPROCS(0) when 0 or less.
	PoolSize int
	// MemoryLimitPages limits each instance's memory, in 64 KiB pages;
	// DefaultMemoryLimitPages when 0. A guest that needs more traps.
	MemoryLimitPages uint32
	// Logger receives the guest's Extism log messages and the replacement of trapped
	// instances; slog.Default() when nil.
	Logger *slog.Logger
	// CredentialCacheEntries bounds each instance's cache of credentials that its store
	// holds (see [core.CredentialCache]); [core.DefaultCredentialCacheEntries] when 0. A
	// negative value turns the cache off, so every decision hashes the credential.
	CredentialCacheEntries int
}

// Host runs build/tokengate.wasm on wazero and decides requests on a pool of module
// instances. It is safe for concurrent use.
type Host struct {
	modulePath string
	runtime    wazero.Runtime
	compiled   wazero.CompiledModule
	pool       *pool
	logger     *slog.Logger
	// cacheEntries is Options.CredentialCacheEntries, set in every new instance.
	cacheEntries int32

	bundle     atomic.Pointer[bundleState]
	bundleMu   sync.Mutex // serializes SetBundle
	generation uint64     // guarded by bundleMu

	closeOnce sync.Once
	closeErr  error
}

// bundleState is one bundle that SetBundle accepted.
type bundleState struct {
	generation uint64
	data       []byte
	info       core.BundleInfo
	// config is the Extism config of the guest: the bundle under its config key.
	config map[string][]byte
	// names maps every token id and user of the bundle to itself, so decoding a decision
	// reuses those strings instead of allocating.
	names map[string]string
}

// New compiles the module (or takes it from the compilation cache), defines the host
// functions it imports, and loads opts.Bundle. Instances are created on demand, up to
// opts.PoolSize. It fails for a missing or incompatible module and for an invalid bundle.
func New(ctx context.Context, opts Options) (*Host, error) {
	opts = withDefaults(opts)
	wasm, err := os.ReadFile(opts.ModulePath)
	if err != nil {
		return nil, fmt.Errorf("read module: %w; build it with 'make build'", err)
	}
	cache, err := compilationCache(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	cfg := wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithMemoryLimitPages(opts.MemoryLimitPages)
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	h := &Host{
		modulePath: opts.ModulePath, runtime: r, pool: newPool(opts.PoolSize), logger: opts.Logger,
		cacheEntries: int32(max(min(opts.CredentialCacheEntries, math.MaxInt32), -1)),
	}
	if err := h.setUp(ctx, wasm); err != nil {
		_ = r.Close(ctx)
		return nil, err
	}
	if opts.Bundle != nil {
		if err := h.SetBundle(opts.Bundle); err != nil {
			_ = r.Close(ctx)
			return nil, err
		}
	}
	return h, nil
}

func withDefaults(opts Options) Options {
	if opts.ModulePath == "" {
		opts.ModulePath = DefaultModulePath
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = runtime.GOMAXPROCS(0)
	}
	if opts.MemoryLimitPages == 0 {
		opts.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return opts
}

// setUp compiles the module, defines WASI and the Extism host functions, and checks that an
// instance starts.
func (h *Host) setUp(ctx context.Context, wasm []byte) error {
	compiled, err := h.runtime.CompileModule(ctx, wasm)
	if err != nil {
		return fmt.Errorf("compile %s: %w", h.modulePath, err)
	}
	h.compiled = compiled
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, h.runtime); err != nil {
		return fmt.Errorf("define WASI host functions: %w", err)
	}
	if err := instantiateExtismEnv(ctx, h.runtime, compiled); err != nil {
		return fmt.Errorf("%s: %w", h.modulePath, err)
	}
	inst, err := h.newInstance(ctx)
	if err != nil {
		return err
	}
	if _, err := h.pool.acquire(ctx); err != nil {
		inst.close(ctx)
		return err
	}
	h.pool.release(inst)
	return nil
}

// SetBundle replaces the bundle for decisions that start after it returns. Decisions in
// flight finish with the bundle they started with. It rejects an invalid bundle (checked
// with [core.DecodeBundle]) and then keeps the current one.
func (h *Host) SetBundle(bundle []byte) error {
	v, info, err := core.DecodeBundle(bundle)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, t := range v.Store().Tokens() {
		names[t.ID] = t.ID
		if t.User != "" {
			names[t.User] = t.User
		}
	}
	data := append([]byte(nil), bundle...)
	h.bundleMu.Lock()
	defer h.bundleMu.Unlock()
	h.generation++
	h.bundle.Store(&bundleState{
		generation: h.generation,
		data:       data,
		info:       info,
		config:     map[string][]byte{"bundle": data},
		names:      names,
	})
	return nil
}

// Bundle returns the information of the current bundle, and false when there is none.
func (h *Host) Bundle() (core.BundleInfo, bool) {
	b := h.bundle.Load()
	if b == nil {
		return core.BundleInfo{}, false
	}
	return b.info, true
}

// intern returns the bundle's copy of b when it has one, else a new string.
func (b *bundleState) intern(s []byte) string {
	if v, ok := b.names[string(s)]; ok {
		return v
	}
	return string(s)
}

// Unix nanoseconds cover the years 1678 to 2262; the lean ABI carries no other instants.
var (
	minInstant = time.Unix(0, -1<<63)
	maxInstant = time.Unix(0, 1<<63-1)
)

// Decide decides req at the instant now through the lean ABI. An error means the Host could
// not decide: no bundle, a bundle the module rejected, a trap (the instance is discarded and
// a new one serves the next call), a closed Host or a done ctx. The decision returned with an
// error is always not_configured (503), never an allow.
func (h *Host) Decide(ctx context.Context, req core.Request, now time.Time) (core.Decision, error) {
	if now.Before(minInstant) || now.After(maxInstant) {
		return core.NotConfigured(), fmt.Errorf("instant %s is outside the years 1678 to 2262 that Unix nanoseconds cover", now.Format(time.RFC3339))
	}
	inst, b, err := h.take(ctx)
	if err != nil {
		return core.NotConfigured(), err
	}
	d, err := inst.decideLean(ctx, req, now.UnixNano(), b.intern)
	h.put(inst, err)
	if err != nil {
		return core.NotConfigured(), err
	}
	return d, nil
}

// DecideJSON decides through the module's Extism export decide. input is the export's JSON,
// {"method", "path", "headers": [[name, value], ...], "now"?}, with now in RFC 3339 and the
// system clock when absent; the result is the decision JSON. Errors are those of Decide and an
// invalid input; the output returned with an error is the not_configured decision.
func (h *Host) DecideJSON(ctx context.Context, input []byte) ([]byte, error) {
	out, err := h.callExtism(ctx, exportDecide, input)
	if err != nil {
		notConfigured, _ := json.Marshal(core.NotConfigured())
		return notConfigured, err
	}
	return out, nil
}

// Description is the module's describe output for the bundle of an instance.
type Description struct {
	// ModuleVersion is the Go build version of the module, "(devel)" when it has none.
	ModuleVersion string `json:"module_version"`
	// LeanABIVersion is the layout version of the module's lean ABI.
	LeanABIVersion int `json:"lean_abi_version"`
	// Configured is true when the instance holds a valid bundle.
	Configured bool `json:"configured"`
	// Format, Digest, Tokens and Endpoints describe the bundle, as in [core.BundleInfo].
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

// Describe calls the module's describe export on an instance that holds the current bundle.
// Without a bundle it returns ErrNotConfigured.
func (h *Host) Describe(ctx context.Context) (Description, error) {
	out, err := h.callExtism(ctx, exportDescribe, nil)
	if err != nil {
		return Description{}, err
	}
	var d Description
	if err := json.Unmarshal(out, &d); err != nil {
		return Description{}, fmt.Errorf("decode describe output %q: %w", out, err)
	}
	return d, nil
}

func (h *Host) callExtism(ctx context.Context, name string, input []byte) ([]byte, error) {
	inst, b, err := h.take(ctx)
	if err != nil {
		return nil, err
	}
	fn := inst.extismDecide
	if name == exportDescribe {
		fn = inst.describe
	}
	out, err := inst.callExtism(ctx, name, fn, input, b.config)
	h.put(inst, err)
	return out, err
}

// take returns an instance that holds the current bundle, creating one if the pool has no
// idle instance. On error the caller has nothing to put back.
func (h *Host) take(ctx context.Context) (*instance, *bundleState, error) {
	inst, err := h.pool.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	if inst == nil {
		if inst, err = h.newInstance(ctx); err != nil {
			h.pool.drop()
			return nil, nil, err
		}
	}
	b := h.bundle.Load()
	if b == nil {
		h.pool.release(inst)
		return nil, nil, ErrNotConfigured
	}
	if inst.generation != b.generation {
		if err := h.load(ctx, inst, b); err != nil {
			h.put(inst, err)
			return nil, nil, err
		}
	}
	if inst.loadErr != nil {
		h.pool.release(inst)
		return nil, nil, inst.loadErr
	}
	return inst, b, nil
}

// load loads b into inst. It returns only trap errors; a rejection is kept in inst.loadErr.
func (h *Host) load(ctx context.Context, inst *instance, b *bundleState) error {
	msg, err := inst.loadLean(ctx, b.data)
	if err != nil {
		return err
	}
	inst.generation = b.generation
	inst.loadErr = nil
	if msg != "" {
		inst.loadErr = fmt.Errorf("module rejected bundle %s: %s", b.info.Digest, msg)
		h.logger.Error("module rejected the bundle, deciding not_configured", "module", h.modulePath, "digest", b.info.Digest, "error", msg)
	}
	return nil
}

// put returns inst to the pool, or discards it when err is a trap.
func (h *Host) put(inst *instance, err error) {
	if err != nil && errors.Is(err, errTrap) {
		h.logger.Warn("discarding trapped module instance", "module", h.modulePath, "error", err)
		inst.close(context.Background())
		h.pool.drop()
		return
	}
	h.pool.release(inst)
}

// Close waits for decisions in flight (until ctx is done), then releases every instance and
// the runtime. Calls after Close return ErrClosed.
func (h *Host) Close(ctx context.Context) error {
	h.closeOnce.Do(func() {
		_, waitErr := h.pool.close(ctx)
		h.closeErr = errors.Join(waitErr, h.runtime.Close(ctx))
	})
	return h.closeErr
}
