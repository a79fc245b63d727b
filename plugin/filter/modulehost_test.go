//go:build !wasm

package filter_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/tokengate/tokengate/plugin/emulator"
	"github.com/tokengate/tokengate/plugin/filter"
)

// moduleHost is a minimal proxy-wasm host for the built module, for the soak and for the tests
// that the SDK's emulator cannot run against the module. Like Envoy, and unlike the emulator,
// it gives the module real clocks and deletes every HTTP context when its stream ends. It
// copies values out of module memory during each call, starts a new plugin context for each
// configuration, and can make a host call fail. It implements the ten host functions the
// module imports, with the semantics of Envoy's header map: names are lower case, remove
// drops every field of a name and replace leaves exactly one.
type moduleHost struct {
	runtime wazero.Runtime
	module  api.Module
	exports struct {
		vmStart, contextCreate, configure, requestHeaders, onLog, onDelete, allocate api.Function
	}
	// faults are the host calls that fail with the ABI's internal failure status.
	faults map[filter.Fault]bool
	// config is the plugin configuration that proxy_get_buffer_bytes returns.
	config      []byte
	requestTime []byte
	nextContext uint32
	// plugin is the id of the plugin context that started last, and started reports whether
	// it accepted its configuration.
	plugin  uint32
	started bool
	// stream is the request being handled.
	stream struct {
		headers [][2]string
		reply   *emulator.Reply
	}
	metrics     []uint64
	metricNames []string
	names       map[string]uint32
	// logs counts the lines logged per level, and lines holds copies of the lines logged
	// since the last reset (do resets it for every request).
	logs  [6]int
	lines []emulator.LogLine
}

// The ABI values this host uses.
const (
	abiOK                  = 0
	abiNotFound            = 1
	abiBadArgument         = 2
	abiInternalFailure     = 10
	abiRequestHeaders      = 0
	abiPluginConfiguration = 7
	// abiVMContext is the id of the VM's root context, which proxy_on_vm_start takes.
	abiVMContext = 1
)

// logLevelNames are the names emulator.LogLine uses for the ABI's log levels 0 to 5.
var logLevelNames = [6]string{"trace", "debug", "info", "warn", "error", "critical"}

// compilationCache stores the module's compiled code, so that each moduleHost after the first
// skips the compilation (about 2 s on a 2-core machine). TestMain sets it to a cache in a
// temporary folder and closes it. An in-memory cache would not do, because it drops the code
// when the runtime that compiled it closes.
var compilationCache wazero.CompilationCache

// newModuleHost instantiates the module and starts its VM. The listed host calls fail.
func newModuleHost(ctx context.Context, wasm []byte, faults ...filter.Fault) (*moduleHost, error) {
	h := &moduleHost{names: map[string]uint32{}, faults: map[filter.Fault]bool{}}
	for _, f := range faults {
		h.faults[f] = true
	}
	h.runtime = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(compilationCache))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, h.runtime); err != nil {
		h.close(ctx)
		return nil, err
	}
	if err := h.exportABI(ctx); err != nil {
		h.close(ctx)
		return nil, err
	}
	cfg := wazero.NewModuleConfig().WithStartFunctions("_initialize").WithSysWalltime().WithSysNanotime()
	mod, err := h.runtime.InstantiateWithConfig(ctx, wasm, cfg)
	if err != nil {
		h.close(ctx)
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
			h.close(ctx)
			return nil, fmt.Errorf("the module does not export %s", name)
		}
	}
	h.nextContext = abiVMContext
	if res, err := h.exports.vmStart.Call(ctx, abiVMContext, 0); err != nil || res[0] != 1 {
		h.close(ctx)
		return nil, fmt.Errorf("proxy_on_vm_start: %v %v", res, err)
	}
	return h, nil
}

// startPlugin creates a new plugin context with pluginConfig, as a proxy does for each
// configuration it loads, and reports whether the filter accepted the configuration. HTTP
// contexts created from then on belong to the new plugin context.
func (h *moduleHost) startPlugin(ctx context.Context, pluginConfig []byte) (bool, error) {
	h.nextContext++
	id := h.nextContext
	if _, err := h.exports.contextCreate.Call(ctx, uint64(id), 0); err != nil {
		return false, err
	}
	h.config = pluginConfig
	res, err := h.exports.configure.Call(ctx, uint64(id), uint64(len(pluginConfig)))
	if err != nil {
		return false, err
	}
	h.plugin, h.started = id, res[0] == 1
	return h.started, nil
}

// newStream creates an HTTP context of the plugin context that started last.
func (h *moduleHost) newStream(ctx context.Context) (uint32, error) {
	h.nextContext++
	id := h.nextContext
	if _, err := h.exports.contextCreate.Call(ctx, uint64(id), uint64(h.plugin)); err != nil {
		return 0, err
	}
	return id, nil
}

// handle delivers a request to HTTP context id, ends the stream and deletes the context. It
// returns the action the filter returned for the request headers.
func (h *moduleHost) handle(ctx context.Context, id uint32, pairs [][2]string, requestTime []byte) (types.Action, error) {
	h.requestTime = requestTime
	h.stream.headers = h.stream.headers[:0]
	for _, kv := range pairs {
		h.stream.headers = append(h.stream.headers, [2]string{strings.ToLower(kv[0]), kv[1]})
	}
	h.stream.reply = nil
	res, err := h.exports.requestHeaders.Call(ctx, uint64(id), uint64(len(pairs)), 0)
	if err != nil {
		return 0, err
	}
	if _, err := h.exports.onLog.Call(ctx, uint64(id)); err != nil {
		return 0, err
	}
	if _, err := h.exports.onDelete.Call(ctx, uint64(id)); err != nil {
		return 0, err
	}
	return types.Action(res[0]), nil
}

// do runs one request through a new HTTP context and reports whether it was forwarded. It
// discards the log lines of earlier requests, so that a long run keeps none.
func (h *moduleHost) do(ctx context.Context, pairs [][2]string, requestTime []byte) (bool, error) {
	h.lines = h.lines[:0]
	id, err := h.newStream(ctx)
	if err != nil {
		return false, err
	}
	action, err := h.handle(ctx, id, pairs, requestTime)
	return action == types.ActionContinue && h.stream.reply == nil, err
}

// send runs a request through HTTP context id and reports what the filter did, like
// emulator.Stream.Do. A nil requestTime leaves the request.time property unset.
func (h *moduleHost) send(ctx context.Context, id uint32, pairs [][2]string, requestTime []byte) (emulator.Result, error) {
	before := append([]uint64(nil), h.metrics...)
	logged := len(h.lines)
	action, err := h.handle(ctx, id, pairs, requestTime)
	if err != nil {
		return emulator.Result{}, err
	}
	res := emulator.Result{
		Action:    action,
		Reply:     h.stream.reply,
		Forwarded: append([][2]string(nil), h.stream.headers...),
		Logs:      append([]emulator.LogLine(nil), h.lines[logged:]...),
		Counters:  map[string]uint64{},
	}
	for id, v := range h.metrics {
		if grown := v - valueAt(before, id); grown != 0 {
			res.Counters[h.metricNames[id]] = grown
		}
	}
	return res, nil
}

func valueAt(values []uint64, i int) uint64 {
	if i < len(values) {
		return values[i]
	}
	return 0
}

// Do runs one request through a new HTTP context at the instant at, or without request.time
// when at is zero. It has the signature of emulator.Host.Do, so tests can use either.
func (h *moduleHost) Do(pairs [][2]string, at time.Time) (emulator.Result, error) {
	ctx := context.Background()
	id, err := h.newStream(ctx)
	if err != nil {
		return emulator.Result{}, err
	}
	var requestTime []byte
	if !at.IsZero() {
		requestTime = filter.EncodeRequestTime(at)
	}
	return h.send(ctx, id, pairs, requestTime)
}

// Started reports whether the plugin context that started last accepted its configuration.
func (h *moduleHost) Started() bool { return h.started }

// Counter returns the value of a counter the module defined, or 0 for one it did not define.
func (h *moduleHost) Counter(name string) uint64 {
	id, ok := h.names[name]
	if !ok {
		return 0
	}
	return h.metrics[id]
}

// Logs returns the lines kept since the last reset, by level name.
func (h *moduleHost) Logs() map[string][]string {
	out := map[string][]string{}
	for _, l := range h.lines {
		out[l.Level] = append(out[l.Level], l.Message)
	}
	return out
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

func (h *moduleHost) log(_ context.Context, mod api.Module, level, ptr, size uint32) uint32 {
	if level >= uint32(len(h.logs)) {
		return abiBadArgument
	}
	msg, ok := h.read(mod, ptr, size)
	if !ok {
		return abiBadArgument
	}
	h.logs[level]++
	h.lines = append(h.lines, emulator.LogLine{Level: logLevelNames[level], Message: string(msg)})
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
	if h.faults[filter.FaultPluginConfiguration] {
		return abiInternalFailure
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

// deserializeMap decodes the proxy-wasm map format that serializeMap writes, or returns false
// when data is not in it.
func deserializeMap(data []byte) ([][2]string, bool) {
	if len(data) < 4 {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint32(data))
	sizes, rest := data[4:], data[4:]
	if n > len(rest)/8 {
		return nil, false
	}
	rest = rest[8*n:]
	pairs := make([][2]string, n)
	for i := range pairs {
		for j := range 2 {
			size := int(binary.LittleEndian.Uint32(sizes[8*i+4*j:]))
			if size >= len(rest) || rest[size] != 0 {
				return nil, false
			}
			pairs[i][j] = string(rest[:size])
			rest = rest[size+1:]
		}
	}
	return pairs, len(rest) == 0
}

func (h *moduleHost) getHeaderMapPairs(ctx context.Context, mod api.Module, kind, ptrPtr, sizePtr uint32) uint32 {
	if kind != abiRequestHeaders {
		return abiBadArgument
	}
	if h.faults[filter.FaultRequestHeaders] {
		return abiInternalFailure
	}
	return h.give(ctx, mod, serializeMap(h.stream.headers), ptrPtr, sizePtr)
}

func (h *moduleHost) getProperty(ctx context.Context, mod api.Module, pathPtr, pathSize, ptrPtr, sizePtr uint32) uint32 {
	path, ok := h.read(mod, pathPtr, pathSize)
	if !ok {
		return abiBadArgument
	}
	if h.faults[filter.FaultProperty] {
		return abiInternalFailure
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
	if h.faults[filter.FaultRemoveHeader] {
		return abiInternalFailure
	}
	h.removeHeader(strings.ToLower(string(key)))
	return abiOK
}

func (h *moduleHost) removeHeader(name string) {
	remaining := h.stream.headers[:0]
	for _, kv := range h.stream.headers {
		if kv[0] != name {
			remaining = append(remaining, kv)
		}
	}
	h.stream.headers = remaining
}

func (h *moduleHost) replaceHeaderMapValue(_ context.Context, mod api.Module, kind, keyPtr, keySize, valuePtr, valueSize uint32) uint32 {
	key, ok := h.read(mod, keyPtr, keySize)
	if !ok || kind != abiRequestHeaders {
		return abiBadArgument
	}
	value, ok := h.read(mod, valuePtr, valueSize)
	if !ok {
		return abiBadArgument
	}
	if h.faults[filter.FaultReplaceHeader] {
		return abiInternalFailure
	}
	name := strings.ToLower(string(key))
	h.removeHeader(name)
	h.stream.headers = append(h.stream.headers, [2]string{name, string(value)})
	return abiOK
}

// sendLocalResponse records the reply. Its arguments are the status, the status details
// (unused), the body, the serialized headers and the gRPC status (unused).
func (h *moduleHost) sendLocalResponse(_ context.Context, mod api.Module, status, _, _, bodyPtr, bodySize, headersPtr, headersSize, _ uint32) uint32 {
	body, ok := h.read(mod, bodyPtr, bodySize)
	if !ok {
		return abiBadArgument
	}
	serialized, ok := h.read(mod, headersPtr, headersSize)
	if !ok {
		return abiBadArgument
	}
	headers, ok := deserializeMap(serialized)
	if !ok {
		return abiBadArgument
	}
	if h.faults[filter.FaultSendReply] {
		return abiInternalFailure
	}
	for i := range headers {
		headers[i][0] = strings.ToLower(headers[i][0])
	}
	h.stream.reply = &emulator.Reply{Status: int(status), Headers: headers, Body: body}
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
		h.metricNames = append(h.metricNames, string(name))
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

// startModuleHost instantiates the built module with the listed host calls failing and
// starts a plugin context with pluginConfig, whether or not the filter accepts it. The host
// closes when the test ends.
func startModuleHost(t *testing.T, pluginConfig []byte, faults ...filter.Fault) *moduleHost {
	t.Helper()
	ctx := context.Background()
	h, err := newModuleHost(ctx, moduleBytes, faults...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.close(ctx); err != nil {
			t.Errorf("close the module host: %v", err)
		}
	})
	if _, err := h.startPlugin(ctx, pluginConfig); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDeserializeMap_RoundTrip(t *testing.T) {
	pairs := [][2]string{{":status", "401"}, {"www-authenticate", `Bearer realm="glean"`}, {"empty", ""}}
	got, ok := deserializeMap(serializeMap(pairs))
	if !ok {
		t.Fatal("deserializeMap rejected the output of serializeMap")
	}
	if fmt.Sprint(got) != fmt.Sprint(pairs) {
		t.Errorf("deserializeMap = %q, want %q", got, pairs)
	}
	for _, bad := range [][]byte{nil, {1, 0, 0, 0}, append(serializeMap(pairs), 'x')} {
		if _, ok := deserializeMap(bad); ok {
			t.Errorf("deserializeMap(%q) accepted a malformed map", bad)
		}
	}
}
