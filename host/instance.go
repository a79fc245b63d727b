package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/internal/leanabi"
)

// Names of the Extism exports of the module.
const (
	exportDecide   = "decide"
	exportDescribe = "describe"
)

// maxStderr bounds the guest standard error kept per instance for trap messages.
const maxStderr = 4096

// instance is one module instance with its exports. It is used by one goroutine at a time.
type instance struct {
	module api.Module
	memory api.Memory

	buffer, loadBundle, decide api.Function
	extismDecide, describe     api.Function
	stack                      []uint64

	// bufferPtr and bufferSize are the lean buffer from the last lean_buffer call.
	bufferPtr  uint32
	bufferSize int

	// generation is the bundle generation loaded into the instance, 0 for none; loadErr is
	// the guest's reason for rejecting it.
	generation uint64
	loadErr    error

	call   *extismCall
	stderr *limitedBuffer
}

// errTrap wraps every error after which an instance must be discarded.
var errTrap = errors.New("module instance trapped")

// trapError returns an error that wraps errTrap and err, with the guest's standard error.
func (inst *instance) trapError(export string, err error) error {
	if msg := inst.stderr.firstLine(); msg != "" {
		return fmt.Errorf("%w in %s: %w (guest stderr: %s)", errTrap, export, err, msg)
	}
	return fmt.Errorf("%w in %s: %w", errTrap, export, err)
}

// newInstance instantiates the compiled module and checks its lean ABI version.
func (h *Host) newInstance(ctx context.Context) (*instance, error) {
	inst := &instance{
		stack:  make([]uint64, 1),
		call:   newExtismCall(h.logger),
		stderr: &limitedBuffer{max: maxStderr},
	}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions("_initialize").
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader).
		WithStderr(inst.stderr)
	mod, err := h.runtime.InstantiateModule(ctx, h.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiate %s: %w", h.modulePath, err)
	}
	inst.module = mod
	inst.memory = mod.Memory()
	names := map[string]*api.Function{
		leanabi.ExportBuffer:     &inst.buffer,
		leanabi.ExportLoadBundle: &inst.loadBundle,
		leanabi.ExportDecide:     &inst.decide,
		exportDecide:             &inst.extismDecide,
		exportDescribe:           &inst.describe,
	}
	for name, fn := range names {
		if *fn = mod.ExportedFunction(name); *fn == nil {
			inst.close(ctx)
			return nil, fmt.Errorf("%s does not export %s: build it from ./wasm with 'make build'", h.modulePath, name)
		}
	}
	if err := inst.checkVersion(ctx, h.modulePath); err != nil {
		inst.close(ctx)
		return nil, err
	}
	if err := inst.setCache(ctx, h.modulePath, h.cacheEntries); err != nil {
		inst.close(ctx)
		return nil, err
	}
	return inst, nil
}

// setCache sets the bound of the guest's credential cache. The guest starts with the default
// bound, so 0 needs no call.
func (inst *instance) setCache(ctx context.Context, path string, entries int32) error {
	if entries == 0 {
		return nil
	}
	fn := inst.module.ExportedFunction(leanabi.ExportSetCache)
	if fn == nil {
		return fmt.Errorf("%s does not export %s: build it from ./wasm with 'make build'", path, leanabi.ExportSetCache)
	}
	inst.stack[0] = api.EncodeI32(entries)
	if err := fn.CallWithStack(ctx, inst.stack); err != nil {
		return inst.trapError(leanabi.ExportSetCache, err)
	}
	return nil
}

func (inst *instance) checkVersion(ctx context.Context, path string) error {
	fn := inst.module.ExportedFunction(leanabi.ExportVersion)
	if fn == nil {
		return fmt.Errorf("%s does not export %s: build it from ./wasm with 'make build'", path, leanabi.ExportVersion)
	}
	if err := fn.CallWithStack(ctx, inst.stack); err != nil {
		return inst.trapError(leanabi.ExportVersion, err)
	}
	if v := uint32(inst.stack[0]); v != leanabi.Version {
		return fmt.Errorf("%s has lean ABI version %d, this host speaks version %d: rebuild the module with 'make build'", path, v, leanabi.Version)
	}
	return nil
}

func (inst *instance) close(ctx context.Context) {
	_ = inst.module.Close(ctx)
}

// write lets fill write n bytes into the guest's lean buffer in place. It calls lean_buffer
// only when the buffer from the last call is too small, because the buffer keeps its address
// and size until the next lean_buffer call.
func (inst *instance) write(ctx context.Context, n int, fill func(dst []byte)) error {
	if n > inst.bufferSize {
		if err := inst.growBuffer(ctx, n); err != nil {
			return err
		}
	}
	dst, ok := inst.memory.Read(inst.bufferPtr, uint32(n))
	if !ok {
		return fmt.Errorf("%w: %s returned a buffer outside guest memory", errTrap, leanabi.ExportBuffer)
	}
	fill(dst)
	return nil
}

func (inst *instance) growBuffer(ctx context.Context, n int) error {
	if n > 1<<32-1 {
		return fmt.Errorf("lean abi: %d bytes do not fit a 32-bit guest", n)
	}
	inst.stack[0] = uint64(n)
	if err := inst.buffer.CallWithStack(ctx, inst.stack); err != nil {
		return inst.trapError(leanabi.ExportBuffer, err)
	}
	inst.bufferPtr, inst.bufferSize = uint32(inst.stack[0]), n
	return nil
}

// callPacked calls a lean export with n and returns the guest bytes its packed result names.
// The bytes alias guest memory until the next call into the instance.
func (inst *instance) callPacked(ctx context.Context, name string, fn api.Function, n int) ([]byte, error) {
	inst.stack[0] = uint64(n)
	if err := fn.CallWithStack(ctx, inst.stack); err != nil {
		return nil, inst.trapError(name, err)
	}
	ptr, length := leanabi.Unpack(inst.stack[0])
	if length == 0 {
		return nil, nil
	}
	out, ok := inst.memory.Read(ptr, length)
	if !ok {
		return nil, fmt.Errorf("%w: %s returned a result outside guest memory", errTrap, name)
	}
	return out, nil
}

// loadLean loads a bundle through the lean ABI. It returns the guest's rejection message, or
// an error (a trap) when the call failed.
func (inst *instance) loadLean(ctx context.Context, bundle []byte) (string, error) {
	if err := inst.write(ctx, len(bundle), func(dst []byte) { copy(dst, bundle) }); err != nil {
		return "", err
	}
	msg, err := inst.callPacked(ctx, leanabi.ExportLoadBundle, inst.loadBundle, len(bundle))
	if err != nil {
		return "", err
	}
	return string(msg), nil
}

// decideLean decides through the lean ABI. Any error means the instance must be discarded.
func (inst *instance) decideLean(ctx context.Context, req core.Request, now int64, str leanabi.Strings) (core.Decision, error) {
	n := leanabi.RequestSize(req)
	if err := inst.write(ctx, n, func(dst []byte) { leanabi.PutRequest(dst, req, now) }); err != nil {
		return core.Decision{}, err
	}
	out, err := inst.callPacked(ctx, leanabi.ExportDecide, inst.decide, n)
	if err != nil {
		return core.Decision{}, err
	}
	d, err := leanabi.DecodeDecision(out, str)
	if err != nil {
		return core.Decision{}, fmt.Errorf("%w: %w", errTrap, err)
	}
	return d, nil
}

// callExtism calls an Extism export with input and returns its output. A trap wraps errTrap;
// an export that set an Extism error returns that error without a trap.
func (inst *instance) callExtism(ctx context.Context, name string, fn api.Function, input []byte, config map[string][]byte) ([]byte, error) {
	inst.call.reset(input, config)
	defer inst.call.reset(nil, nil)
	ctx = context.WithValue(ctx, callKey{}, inst.call)
	if err := fn.CallWithStack(ctx, inst.stack); err != nil {
		return nil, inst.trapError(name, err)
	}
	if rc := int32(inst.stack[0]); rc != 0 || inst.call.failed {
		return nil, fmt.Errorf("module export %s failed with code %d: %s", name, rc, inst.call.errMsg)
	}
	return inst.call.output, nil
}

// limitedBuffer keeps the first max bytes written to it and drops the rest.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// firstLine returns the first non-empty line written, without surrounding space.
func (b *limitedBuffer) firstLine() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for line := range bytes.Lines(b.buf.Bytes()) {
		if l := bytes.TrimSpace(line); len(l) > 0 {
			return string(l)
		}
	}
	return ""
}
