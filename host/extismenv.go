package host

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// extismEnvModule is the import module name of Extism's host functions.
const extismEnvModule = "extism:host/env"

// maxExtismMemory bounds the Extism memory that one export call may allocate, so a faulty
// guest traps instead of exhausting the host.
const maxExtismMemory = 64 << 20

// extismArenaBase is the offset of the first Extism memory block. Offset 0 means "no block"
// in Extism's ABI, and 8 keeps blocks 8-byte aligned for load_u64 and store_u64.
const extismArenaBase = 8

// extismCall is the Extism state of one export call on one instance: the input, the blocks of
// Extism memory the guest allocated, and the output or error it set. An instance reuses one
// value across calls.
type extismCall struct {
	input  []byte
	arena  []byte
	blocks map[uint64]uint64
	output []byte
	errMsg string
	failed bool
	// config is the Extism config the guest reads with config_get.
	config map[string][]byte
	logger *slog.Logger
}

func newExtismCall(logger *slog.Logger) *extismCall {
	return &extismCall{blocks: make(map[uint64]uint64), logger: logger}
}

// reset prepares the state for a new call with the given input.
func (c *extismCall) reset(input []byte, config map[string][]byte) {
	c.input = input
	if cap(c.arena) > 1<<20 {
		c.arena = nil // drop a large arena instead of keeping it for every later call
	}
	c.arena = append(c.arena[:0], make([]byte, extismArenaBase)...)
	clear(c.blocks)
	c.output = nil
	c.errMsg = ""
	c.failed = false
	c.config = config
}

func (c *extismCall) alloc(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	if uint64(len(c.arena))+n > maxExtismMemory {
		panic(fmt.Errorf("extism alloc of %d bytes exceeds the %d-byte limit of one call", n, maxExtismMemory))
	}
	off := uint64(len(c.arena))
	c.arena = append(c.arena, make([]byte, (n+7)&^7)...)
	c.blocks[off] = n
	return off
}

// block returns the bytes of the block at off; it panics, which traps the guest, for an
// unknown offset.
func (c *extismCall) block(off uint64) []byte {
	n, ok := c.blocks[off]
	if !ok {
		panic(fmt.Errorf("extism memory: no block at offset %d", off))
	}
	return c.arena[off : off+n]
}

// span returns n bytes of Extism memory at off; it panics for a range outside the arena.
func (c *extismCall) span(off, n uint64) []byte {
	if off < extismArenaBase || off > uint64(len(c.arena)) || n > uint64(len(c.arena))-off {
		panic(fmt.Errorf("extism memory: range [%d, %d) is outside the allocated memory", off, off+n))
	}
	return c.arena[off : off+n]
}

func (c *extismCall) inputSpan(off, n uint64) []byte {
	if off > uint64(len(c.input)) || n > uint64(len(c.input))-off {
		panic(fmt.Errorf("extism input: range [%d, %d) is outside the %d-byte input", off, off+n, len(c.input)))
	}
	return c.input[off : off+n]
}

func (c *extismCall) log(ctx context.Context, level slog.Level, off uint64) {
	c.logger.Log(ctx, level, "guest log", "module", "tokengate.wasm", "message", string(c.block(off)))
}

// extismLogLevel returns the Extism log level (0 trace to 4 error) that matches the lowest
// level the logger records, because go-pdk drops messages below it before calling the host.
func extismLogLevel(ctx context.Context, logger *slog.Logger) uint32 {
	levels := []slog.Level{slog.LevelDebug - 4, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn}
	for i, l := range levels {
		if logger.Enabled(ctx, l) {
			return uint32(i)
		}
	}
	return 4
}

type callKey struct{}

// callFrom returns the Extism state of the current call, which the host puts in the context.
func callFrom(ctx context.Context) *extismCall {
	c, ok := ctx.Value(callKey{}).(*extismCall)
	if !ok {
		panic("extism host function called outside an Extism export call")
	}
	return c
}

// extismFunction is one Extism host function with its wasm signature.
type extismFunction struct {
	params, results []api.ValueType
	fn              func(ctx context.Context, c *extismCall, stack []uint64)
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// extismFunctions are the Extism host functions this package implements, by name.
var extismFunctions = map[string]extismFunction{
	"alloc": {[]api.ValueType{i64}, []api.ValueType{i64}, func(_ context.Context, c *extismCall, s []uint64) {
		s[0] = c.alloc(s[0])
	}},
	"free": {[]api.ValueType{i64}, nil, func(_ context.Context, c *extismCall, s []uint64) {
		delete(c.blocks, s[0])
	}},
	"length": {[]api.ValueType{i64}, []api.ValueType{i64}, func(_ context.Context, c *extismCall, s []uint64) {
		s[0] = c.blocks[s[0]]
	}},
	"length_unsafe": {[]api.ValueType{i64}, []api.ValueType{i64}, func(_ context.Context, c *extismCall, s []uint64) {
		s[0] = c.blocks[s[0]]
	}},
	"load_u8": {[]api.ValueType{i64}, []api.ValueType{i32}, func(_ context.Context, c *extismCall, s []uint64) {
		s[0] = uint64(c.span(s[0], 1)[0])
	}},
	"store_u8": {[]api.ValueType{i64, i32}, nil, func(_ context.Context, c *extismCall, s []uint64) {
		c.span(s[0], 1)[0] = byte(s[1])
	}},
	"load_u64": {[]api.ValueType{i64}, []api.ValueType{i64}, func(_ context.Context, c *extismCall, s []uint64) {
		s[0] = binary.LittleEndian.Uint64(c.span(s[0], 8))
	}},
	"store_u64": {[]api.ValueType{i64, i64}, nil, func(_ context.Context, c *extismCall, s []uint64) {
		binary.LittleEndian.PutUint64(c.span(s[0], 8), s[1])
	}},
	"input_length": {nil, []api.ValueType{i64}, func(_ context.Context, c *extismCall, s []uint64) {
		s[0] = uint64(len(c.input))
	}},
	"input_load_u8": {[]api.ValueType{i64}, []api.ValueType{i32}, func(_ context.Context, c *extismCall, s []uint64) {
		s[0] = uint64(c.inputSpan(s[0], 1)[0])
	}},
	"input_load_u64": {[]api.ValueType{i64}, []api.ValueType{i64}, func(_ context.Context, c *extismCall, s []uint64) {
		s[0] = binary.LittleEndian.Uint64(c.inputSpan(s[0], 8))
	}},
	"output_set": {[]api.ValueType{i64, i64}, nil, func(_ context.Context, c *extismCall, s []uint64) {
		c.output = append([]byte(nil), c.span(s[0], s[1])...)
	}},
	"error_set": {[]api.ValueType{i64}, nil, func(_ context.Context, c *extismCall, s []uint64) {
		c.errMsg = string(c.block(s[0]))
		c.failed = true
	}},
	"config_get": {[]api.ValueType{i64}, []api.ValueType{i64}, func(_ context.Context, c *extismCall, s []uint64) {
		value, ok := c.config[string(c.block(s[0]))]
		if !ok || len(value) == 0 {
			s[0] = 0
			return
		}
		off := c.alloc(uint64(len(value)))
		copy(c.arena[off:], value)
		s[0] = off
	}},
	"get_log_level": {nil, []api.ValueType{i32}, func(ctx context.Context, c *extismCall, s []uint64) {
		s[0] = uint64(extismLogLevel(ctx, c.logger))
	}},
	"log_trace": {[]api.ValueType{i64}, nil, func(ctx context.Context, c *extismCall, s []uint64) {
		c.log(ctx, slog.LevelDebug-4, s[0])
	}},
	"log_debug": {[]api.ValueType{i64}, nil, func(ctx context.Context, c *extismCall, s []uint64) {
		c.log(ctx, slog.LevelDebug, s[0])
	}},
	"log_info": {[]api.ValueType{i64}, nil, func(ctx context.Context, c *extismCall, s []uint64) {
		c.log(ctx, slog.LevelInfo, s[0])
	}},
	"log_warn": {[]api.ValueType{i64}, nil, func(ctx context.Context, c *extismCall, s []uint64) {
		c.log(ctx, slog.LevelWarn, s[0])
	}},
	"log_error": {[]api.ValueType{i64}, nil, func(ctx context.Context, c *extismCall, s []uint64) {
		c.log(ctx, slog.LevelError, s[0])
	}},
}

// instantiateExtismEnv defines the Extism host functions that the compiled guest imports, and
// no others. It fails for an import this package does not implement or whose signature
// differs, so an incompatible module is rejected when the host starts.
func instantiateExtismEnv(ctx context.Context, r wazero.Runtime, guest wazero.CompiledModule) error {
	builder := r.NewHostModuleBuilder(extismEnvModule)
	defined := map[string]bool{}
	for _, imp := range guest.ImportedFunctions() {
		module, name, _ := imp.Import()
		if module != extismEnvModule || defined[name] {
			continue
		}
		f, ok := extismFunctions[name]
		if !ok {
			return fmt.Errorf("module imports %s %s, which this host does not implement: rebuild the module with this tokengate version", module, name)
		}
		if !slices.Equal(f.params, imp.ParamTypes()) || !slices.Equal(f.results, imp.ResultTypes()) {
			return fmt.Errorf("module imports %s %s with signature %v -> %v, but this host implements %v -> %v", module, name,
				imp.ParamTypes(), imp.ResultTypes(), f.params, f.results)
		}
		fn := f.fn
		builder.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
				fn(ctx, callFrom(ctx), stack)
			}), f.params, f.results).
			Export(name)
		defined[name] = true
	}
	_, err := builder.Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("define %s host functions: %w", extismEnvModule, err)
	}
	return nil
}
