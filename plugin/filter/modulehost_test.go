//go:build !wasm

package filter_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/tokengate/tokengate/plugin/filter"
)

// moduleHost is a minimal proxy-wasm host for the built module, for the soak. Unlike the SDK's
// emulator, and like Envoy, it gives the module real clocks, deletes every HTTP context when
// its stream ends, and copies values out of module memory during each call. It implements the
// ten host functions the module imports, with the semantics of Envoy's header map: names are
// lower case, remove drops every field of a name and replace leaves exactly one.
type moduleHost struct {
	runtime wazero.Runtime
	module  api.Module
	exports struct {
		vmStart, contextCreate, configure, requestHeaders, onLog, onDelete, allocate api.Function
	}
	config      []byte
	requestTime []byte
	nextContext uint32
	// stream is the request being handled.
	stream struct {
		headers [][2]string
		status  uint32
		replied bool
	}
	metrics []uint64
	names   map[string]uint32
	logs    [6]int
}

// The ABI values this host uses.
const (
	abiOK                  = 0
	abiNotFound            = 1
	abiBadArgument         = 2
	abiRequestHeaders      = 0
	abiPluginConfiguration = 7
	abiRootContext         = 1
)

func newModuleHost(ctx context.Context, wasm, pluginConfig []byte) (*moduleHost, error) {
	h := &moduleHost{config: pluginConfig, names: map[string]uint32{}, nextContext: abiRootContext}
	h.runtime = wazero.NewRuntime(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, h.runtime); err != nil {
		return nil, err
	}
	if err := h.exportABI(ctx); err != nil {
		return nil, err
	}
	cfg := wazero.NewModuleConfig().WithStartFunctions("_initialize").WithSysWalltime().WithSysNanotime()
	mod, err := h.runtime.InstantiateWithConfig(ctx, wasm, cfg)
	if err != nil {
		return nil, err
	}
	h.module = mod
	for name, f := range map[string]*api.Function{
		"proxy_on_vm_start": &h.exports.vmStart, "proxy_on_context_create": &h.exports.contextCreate,
		"proxy_on_configure": &h.exports.configure, "proxy_on_request_headers": &h.exports.requestHeaders,
		"proxy_on_log": &h.exports.onLog, "proxy_on_delete": &h.exports.onDelete,
		"proxy_on_memory_allocate": &h.exports.allocate,
	} {
		if *f = mod.ExportedFunction(name); *f == nil {
			return nil, fmt.Errorf("the module does not export %s", name)
		}
	}
	if err := h.start(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

// start starts the VM and the plugin context, and fails unless the filter accepts the
// configuration.
func (h *moduleHost) start(ctx context.Context) error {
	if res, err := h.exports.vmStart.Call(ctx, abiRootContext, 0); err != nil || res[0] != 1 {
		return fmt.Errorf("proxy_on_vm_start: %v %v", res, err)
	}
	if _, err := h.exports.contextCreate.Call(ctx, abiRootContext, 0); err != nil {
		return err
	}
	if res, err := h.exports.configure.Call(ctx, abiRootContext, uint64(len(h.config))); err != nil || res[0] != 1 {
		return fmt.Errorf("proxy_on_configure: %v %v", res, err)
	}
	return nil
}

// do runs one request through a new HTTP context, deletes the context, and reports whether
// the request was forwarded.
func (h *moduleHost) do(ctx context.Context, pairs [][2]string, requestTime []byte) (bool, error) {
	h.nextContext++
	id := uint64(h.nextContext)
	h.requestTime = requestTime
	h.stream.headers = h.stream.headers[:0]
	for _, kv := range pairs {
		h.stream.headers = append(h.stream.headers, [2]string{strings.ToLower(kv[0]), kv[1]})
	}
	h.stream.replied = false
	if _, err := h.exports.contextCreate.Call(ctx, id, abiRootContext); err != nil {
		return false, err
	}
	res, err := h.exports.requestHeaders.Call(ctx, id, uint64(len(pairs)), 0)
	if err != nil {
		return false, err
	}
	if _, err := h.exports.onLog.Call(ctx, id); err != nil {
		return false, err
	}
	if _, err := h.exports.onDelete.Call(ctx, id); err != nil {
		return false, err
	}
	return res[0] == 0 && !h.stream.replied, nil
}

// memorySize returns the size of the module's linear memory in bytes.
func (h *moduleHost) memorySize() uint32 { return h.module.Memory().Size() }

func (h *moduleHost) close(ctx context.Context) error { return h.runtime.Close(ctx) }

func (h *moduleHost) exportABI(ctx context.Context) error {
	_, err := h.runtime.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithFunc(h.log).Export("proxy_log").
		NewFunctionBuilder().WithFunc(h.getBufferBytes).Export("proxy_get_buffer_bytes").
		NewFunctionBuilder().WithFunc(h.getHeaderMapPairs).Export("proxy_get_header_map_pairs").
		NewFunctionBuilder().WithFunc(h.getProperty).Export("proxy_get_property").
		NewFunctionBuilder().WithFunc(h.removeHeaderMapValue).Export("proxy_remove_header_map_value").
		NewFunctionBuilder().WithFunc(h.replaceHeaderMapValue).Export("proxy_replace_header_map_value").
		NewFunctionBuilder().WithFunc(h.sendLocalResponse).Export("proxy_send_local_response").
		NewFunctionBuilder().WithFunc(h.defineMetric).Export("proxy_define_metric").
		NewFunctionBuilder().WithFunc(h.incrementMetric).Export("proxy_increment_metric").
		NewFunctionBuilder().WithFunc(func(uint32) uint32 { return abiOK }).Export("proxy_set_effective_context").
		Instantiate(ctx)
	return err
}

func (h *moduleHost) log(_ context.Context, _ api.Module, level, ptr, size uint32) uint32 {
	if level >= uint32(len(h.logs)) {
		return abiBadArgument
	}
	h.logs[level]++
	return abiOK
}

// read returns a copy of module memory.
func (h *moduleHost) read(mod api.Module, ptr, size uint32) ([]byte, bool) {
	b, ok := mod.Memory().Read(ptr, size)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), b...), true
}

// give copies data into memory the module allocates and writes its address and size.
func (h *moduleHost) give(ctx context.Context, mod api.Module, data []byte, ptrPtr, sizePtr uint32) uint32 {
	if len(data) == 0 {
		return abiNotFound
	}
	res, err := h.exports.allocate.Call(ctx, uint64(len(data)))
	if err != nil {
		panic(err)
	}
	ptr := uint32(res[0])
	if !mod.Memory().Write(ptr, data) || !mod.Memory().WriteUint32Le(ptrPtr, ptr) || !mod.Memory().WriteUint32Le(sizePtr, uint32(len(data))) {
		return abiBadArgument
	}
	return abiOK
}

func (h *moduleHost) getBufferBytes(ctx context.Context, mod api.Module, kind, start, maxSize, ptrPtr, sizePtr uint32) uint32 {
	if kind != abiPluginConfiguration || start > uint32(len(h.config)) {
		return abiBadArgument
	}
	data := h.config[start:]
	if uint32(len(data)) > maxSize {
		data = data[:maxSize]
	}
	return h.give(ctx, mod, data, ptrPtr, sizePtr)
}

// serializeMap encodes a header list in the proxy-wasm map format: the count, each name and
// value size, then each name and value followed by a NUL byte.
func serializeMap(pairs [][2]string) []byte {
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(pairs)))
	for _, kv := range pairs {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(kv[0])))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(kv[1])))
	}
	for _, kv := range pairs {
		out = append(append(out, kv[0]...), 0)
		out = append(append(out, kv[1]...), 0)
	}
	return out
}

func (h *moduleHost) getHeaderMapPairs(ctx context.Context, mod api.Module, kind, ptrPtr, sizePtr uint32) uint32 {
	if kind != abiRequestHeaders {
		return abiBadArgument
	}
	return h.give(ctx, mod, serializeMap(h.stream.headers), ptrPtr, sizePtr)
}

func (h *moduleHost) getProperty(ctx context.Context, mod api.Module, pathPtr, pathSize, ptrPtr, sizePtr uint32) uint32 {
	path, ok := h.read(mod, pathPtr, pathSize)
	if !ok {
		return abiBadArgument
	}
	if string(path) != strings.Join(filter.RequestTimeProperty, "\x00") || h.requestTime == nil {
		return abiNotFound
	}
	return h.give(ctx, mod, h.requestTime, ptrPtr, sizePtr)
}

func (h *moduleHost) removeHeaderMapValue(_ context.Context, mod api.Module, kind, keyPtr, keySize uint32) uint32 {
	key, ok := h.read(mod, keyPtr, keySize)
	if !ok || kind != abiRequestHeaders {
		return abiBadArgument
	}
	name := strings.ToLower(string(key))
	remaining := h.stream.headers[:0]
	for _, kv := range h.stream.headers {
		if kv[0] != name {
			remaining = append(remaining, kv)
		}
	}
	h.stream.headers = remaining
	return abiOK
}

func (h *moduleHost) replaceHeaderMapValue(ctx context.Context, mod api.Module, kind, keyPtr, keySize, valuePtr, valueSize uint32) uint32 {
	if status := h.removeHeaderMapValue(ctx, mod, kind, keyPtr, keySize); status != abiOK {
		return status
	}
	key, _ := h.read(mod, keyPtr, keySize)
	value, ok := h.read(mod, valuePtr, valueSize)
	if !ok {
		return abiBadArgument
	}
	h.stream.headers = append(h.stream.headers, [2]string{strings.ToLower(string(key)), string(value)})
	return abiOK
}

func (h *moduleHost) sendLocalResponse(_ context.Context, _ api.Module, status, _, _, _, _, _, _, _ uint32) uint32 {
	h.stream.status, h.stream.replied = status, true
	return abiOK
}

func (h *moduleHost) defineMetric(_ context.Context, mod api.Module, _, namePtr, nameSize, idPtr uint32) uint32 {
	name, ok := h.read(mod, namePtr, nameSize)
	if !ok {
		return abiBadArgument
	}
	id, known := h.names[string(name)]
	if !known {
		id = uint32(len(h.metrics))
		h.names[string(name)] = id
		h.metrics = append(h.metrics, 0)
	}
	if !mod.Memory().WriteUint32Le(idPtr, id) {
		return abiBadArgument
	}
	return abiOK
}

func (h *moduleHost) incrementMetric(id uint32, offset int64) uint32 {
	if id >= uint32(len(h.metrics)) {
		return abiBadArgument
	}
	h.metrics[id] += uint64(offset)
	return abiOK
}

// counter returns the value of a counter the module defined.
func (h *moduleHost) counter(name string) uint64 {
	id, ok := h.names[name]
	if !ok {
		return 0
	}
	return h.metrics[id]
}
