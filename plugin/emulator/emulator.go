// Package emulator runs the tokengate proxy-wasm filter in the SDK's host emulator
// (proxytest) and reports what the filter did with each request: its local reply, the headers
// it would forward, the lines it logged and the counters it incremented. It plays the part
// httptest plays for net/http. The filter's tests and the proxywasm engine drive the filter
// through it, either as Go code in this process ([filter.NewVMContext]) or as the built
// module in wazero ([NewModuleVM]).
//
// The emulator supplies the filter's clock through the request.time property, which each
// request sets. The module's own WASI clock is wazero's default fake clock (2022-01-01 plus
// 1 ms per read), and the filter never reads it.
//
// # Limits of the SDK's emulator
//
// These hold for the SDK version in go.mod (v0.0.0-20260105142703-44c7d5847745):
//
//   - For the module, the emulator keeps log lines, reply bodies, header values and metric
//     names as pointers into module memory instead of copies. Host copies every value as soon
//     as the call that produced it returns. The filter keeps its log lines reachable until the
//     request ends and its metric names for the life of the VM, so the module cannot reuse
//     that memory first.
//   - The emulator never calls the module's proxy_on_delete, so the module keeps every HTTP
//     context it was given (about 140 bytes each, measured with the soak's requests).
//   - The module runs on wazero's fake clocks. Under them its garbage collector stops
//     finishing cycles after some ten thousand requests, and module memory then grows by
//     about 8 KB per request of 62 header fields. A plain Go reactor that only allocates
//     shows the same stall under the fake clocks and none under real ones (measured with
//     wazero v1.12.0 and Go 1.26.8). Long runs must replace the VM, and the filter's soak
//     uses a host of its own for the module.
//   - The emulated host keeps every request until it is released, which is why a Host is
//     meant to be closed and replaced during long runs.
package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/plugin/filter"
)

// hostInUse is held while a Host is open. proxytest keeps the emulated host in process-wide
// state behind its own lock, so a second Host would block forever; Start fails instead.
var hostInUse sync.Mutex

// ErrHostInUse is returned by Start while another Host of this process is open.
var ErrHostInUse = errors.New("emulator: another Host is open in this process: close it first, because proxytest emulates one host per process")

// NewModuleVM compiles a built filter module and instantiates it in a new wazero runtime. The
// VM outlives the Hosts started on it, so one VM can serve many configurations in turn, as a
// proxy's VM does. Close it when done.
func NewModuleVM(module []byte) (proxytest.WasmVMContext, error) {
	vm, err := proxytest.NewWasmVMContext(module)
	if err != nil {
		return nil, fmt.Errorf("emulator: instantiate the filter module: %w", err)
	}
	return vm, nil
}

// Host is one plugin configuration of a filter VM, loaded into the emulator. It is not safe
// for concurrent use. The emulator keeps every request and log line it has seen until Close,
// so long runs should close and start Hosts in turn.
type Host struct {
	emu     proxytest.HostEmulator
	release func()
	started bool
	// locked is true while the Host holds hostInUse.
	locked bool
	// logs are copies of every line the filter logged, and logCounts the number of the
	// emulator's lines per level already copied.
	logs      []LogLine
	logCounts []int
}

// Start loads pluginConfig into a new emulated host for vm. It starts the VM, creates the
// plugin context and calls its OnPluginStart. A configuration that the filter rejects is not
// an error: the Host stays usable and [Host.Started] reports false.
func Start(vm types.VMContext, pluginConfig []byte) (h *Host, err error) {
	if !hostInUse.TryLock() {
		return nil, ErrHostInUse
	}
	h = &Host{locked: true, logCounts: make([]int, len(logLevels))}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if h.release == nil {
			// The VM trapped inside NewHostEmulator, after proxytest took its lock, and the
			// lock's release was never returned. Keeping hostInUse makes later Starts fail
			// with ErrHostInUse instead of blocking.
			h, err = nil, fmt.Errorf("emulator: the VM trapped while the plugin context was created, so the emulator stays locked in this process: %v", r)
			return
		}
		h.Close()
		h, err = nil, fmt.Errorf("emulator: the VM trapped while the plugin started: %v", r)
	}()
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration(pluginConfig)
	h.emu, h.release = proxytest.NewHostEmulator(opt)
	if h.emu.StartVM() != types.OnVMStartStatusOK {
		h.Close()
		return nil, errors.New("emulator: the VM failed to start")
	}
	h.started = h.emu.StartPlugin() == types.OnPluginStartStatusOK
	h.copyNewLogs()
	return h, nil
}

// Started reports whether the filter accepted the configuration.
func (h *Host) Started() bool { return h.started }

// Close releases the emulator so that another Host can start. The VM stays open.
func (h *Host) Close() {
	if h.release != nil {
		h.release()
		h.release = nil
	}
	if h.locked {
		h.locked = false
		hostInUse.Unlock()
	}
	h.emu = nil
}

// Counter returns the value of a counter the filter defined, or 0 for one it did not define.
func (h *Host) Counter(name string) uint64 {
	v, err := h.emu.GetCounterMetric(name)
	if err != nil {
		return 0
	}
	return v
}

// Logs returns every line the filter logged on this Host, by level name ("info", "error",
// ...), in order.
func (h *Host) Logs() map[string][]string {
	out := make(map[string][]string, len(logLevels))
	for _, l := range h.logs {
		out[l.Level] = append(out[l.Level], l.Message)
	}
	return out
}

type logLevel struct {
	name string
	read func(proxytest.HostEmulator) []string
}

var logLevels = []logLevel{
	{"trace", proxytest.HostEmulator.GetTraceLogs},
	{"debug", proxytest.HostEmulator.GetDebugLogs},
	{"info", proxytest.HostEmulator.GetInfoLogs},
	{"warn", proxytest.HostEmulator.GetWarnLogs},
	{"error", proxytest.HostEmulator.GetErrorLogs},
	{"critical", proxytest.HostEmulator.GetCriticalLogs},
}

// Pairs returns the header list a proxy hands to the filter for a request: the :method and
// :path pseudo-headers, then the fields as received.
func Pairs(method, path string, headers []core.Header) [][2]string {
	pairs := make([][2]string, 0, len(headers)+2)
	pairs = append(pairs, [2]string{":method", method}, [2]string{":path", path})
	for _, f := range headers {
		pairs = append(pairs, [2]string{f.Name, f.Value})
	}
	return pairs
}

// Do runs one request through the filter. It sets request.time to at (unless at is zero),
// creates an HTTP context, delivers the header list (pseudo-headers included, see [Pairs]) and
// completes the stream. The property keeps its last value, so a zero at on a Host where no
// request carried a time makes the filter's clock read fail. An error means the VM trapped,
// and the VM is unusable afterwards.
func (h *Host) Do(pairs [][2]string, at time.Time) (Result, error) {
	s, err := h.NewStream()
	if err != nil {
		return Result{}, err
	}
	return s.Do(pairs, at)
}

// Stream is an HTTP context whose request headers have not arrived yet.
type Stream struct {
	host *Host
	id   uint32
}

// NewStream creates an HTTP context now and delivers its request later, in [Stream.Do]. Tests
// use it to change the filter's configuration while a request is in flight. An error means
// the VM trapped.
func (h *Host) NewStream() (s *Stream, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("emulator: the filter trapped while the HTTP context was created: %v", r)
		}
	}()
	return &Stream{host: h, id: h.emu.InitializeHttpContext()}, nil
}

// Do delivers the request to the stream's HTTP context and completes the stream, as
// [Host.Do] does. Call it once per Stream.
func (s *Stream) Do(pairs [][2]string, at time.Time) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("emulator: the filter trapped: %v", r)
		}
	}()
	h := s.host
	if !at.IsZero() {
		if err := h.emu.SetProperty(filter.RequestTimeProperty, filter.EncodeRequestTime(at)); err != nil {
			return Result{}, fmt.Errorf("emulator: set request.time: %w", err)
		}
	}
	counters := h.counters()
	logged := len(h.logs)
	res.Action = h.emu.CallOnRequestHeaders(s.id, pairs, false)
	// Copy before the module runs again (see the package documentation).
	h.copyNewLogs()
	res.Forwarded = cloneHeaders(h.emu.GetCurrentRequestHeaders(s.id))
	if r := h.emu.GetSentLocalResponse(s.id); r != nil {
		res.Reply = &Reply{
			Status:  int(r.StatusCode),
			Headers: cloneHeaders(r.Headers),
			Body:    bytes.Clone(r.Data),
		}
	}
	h.emu.CompleteHttpContext(s.id)
	res.Counters = h.countersSince(counters)
	res.Logs = append([]LogLine(nil), h.logs[logged:]...)
	return res, nil
}

func (h *Host) counters() map[string]uint64 {
	out := make(map[string]uint64, len(metricNames))
	for _, name := range metricNames {
		out[name] = h.Counter(name)
	}
	return out
}

// countersSince returns the counters that grew since before, with their increments.
func (h *Host) countersSince(before map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for name, v := range h.counters() {
		if d := v - before[name]; d != 0 {
			out[name] = d
		}
	}
	return out
}

var metricNames = filter.MetricNames()

// copyNewLogs copies the lines the emulator stored since the last copy, in level order.
func (h *Host) copyNewLogs() {
	for i, l := range logLevels {
		lines := l.read(h.emu)
		for _, msg := range lines[h.logCounts[i]:] {
			h.logs = append(h.logs, LogLine{Level: l.name, Message: strings.Clone(msg)})
		}
		h.logCounts[i] = len(lines)
	}
}

// cloneHeaders copies a header list, strings included.
func cloneHeaders(in [][2]string) [][2]string {
	out := make([][2]string, len(in))
	for i, kv := range in {
		out[i] = [2]string{strings.Clone(kv[0]), strings.Clone(kv[1])}
	}
	return out
}
