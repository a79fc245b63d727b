package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/plugin/emulator"
	"github.com/tokengate/tokengate/plugin/filter"
)

func init() { Register("proxywasm", openProxyWasm) }

// Limits that keep the engine's memory bounded; package emulator documents why it grows.
const (
	// proxyWasmHostRequests is the number of requests after which the engine replaces its
	// emulator Host, which keeps every request it has seen. Replacing it costs a plugin start.
	proxyWasmHostRequests = 4096
	// proxyWasmVMRequests is the number of requests after which the engine replaces the
	// module instance, whose memory grows by up to about 8 KB per request in the emulator.
	// Replacing it costs a compilation of the module (seconds).
	proxyWasmVMRequests = 20000
)

// ProxyWasm decides by running the built proxy-wasm filter module (tokengate-proxywasm.wasm)
// in the proxy-wasm SDK's host emulator on wazero. It reads the decision back from the
// filter's outputs: the local reply and denial log line of a denial, or the headers of a
// forwarded request. It exists to check that the filter decides like the native core.
//
// The emulator supplies the decision instant through the request.time property, which the
// filter reads as its clock. An instant before 2020 is rejected by the filter as an unset host
// clock, so Decide fails for it.
//
// Only one ProxyWasm can be open in a process at a time, because the SDK's emulator is
// process-wide; Open fails while another is open. Decide calls are serialized.
type ProxyWasm struct {
	mu     sync.Mutex
	module []byte
	vm     proxytest.WasmVMContext
	config []byte
	host   *emulator.Host
	// hostRequests and vmRequests count the requests of the current Host and module instance.
	hostRequests int
	vmRequests   int
	// err is set once the module trapped or a Host failed to start; every later call fails.
	err error
}

func openProxyWasm(_ context.Context, bundle []byte, opts Options) (Engine, error) {
	dir := opts.ModuleDir
	if dir == "" {
		dir = "build"
	}
	// NOTE: opts.CacheDir is not used: proxytest creates its wazero runtime itself, without a
	// compilation cache, so each Open compiles the module again.
	path := filepath.Join(dir, emulator.ModuleName)
	module, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("proxywasm engine: read the filter module: %w: run make build", err)
	}
	return NewProxyWasm(module, bundle)
}

// NewProxyWasm compiles a filter module and loads the bundle into it as the plugin
// configuration. It fails when the filter rejects the bundle, and reports the filter's error.
func NewProxyWasm(module, bundle []byte) (*ProxyWasm, error) {
	config, err := filter.EncodeConfig(bundle, false, false)
	if err != nil {
		return nil, fmt.Errorf("proxywasm engine: %w", err)
	}
	vm, err := emulator.NewModuleVM(module)
	if err != nil {
		return nil, fmt.Errorf("proxywasm engine: %w", err)
	}
	e := &ProxyWasm{module: module, vm: vm, config: config}
	if err := e.startHost(); err != nil {
		vm.Close()
		return nil, err
	}
	return e, nil
}

// startHost loads the configuration into a new emulator Host.
func (e *ProxyWasm) startHost() error {
	h, err := emulator.Start(e.vm, e.config)
	if err != nil {
		return fmt.Errorf("proxywasm engine: %w", err)
	}
	if !h.Started() {
		logs := h.Logs()
		h.Close()
		reasons := append(logs["critical"], logs["error"]...)
		return fmt.Errorf("proxywasm engine: the filter rejected the configuration: %s", strings.Join(reasons, "; "))
	}
	e.host, e.hostRequests = h, 0
	return nil
}

// Decide runs the request through the filter at the instant now. An error means the filter's
// outputs did not form a decision (see [emulator.Result.Decision]) or the module trapped; the
// decision returned with it is 503 not_configured.
func (e *ProxyWasm) Decide(_ context.Context, req core.Request, now time.Time) (core.Decision, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if now.IsZero() {
		return core.NotConfigured(), errors.New("proxywasm engine: no instant to decide at")
	}
	if err := e.ready(); err != nil {
		return core.NotConfigured(), err
	}
	e.hostRequests++
	e.vmRequests++
	res, err := e.host.Do(emulator.Pairs(req.Method, req.Path, req.Headers), now)
	if err != nil {
		e.err = fmt.Errorf("proxywasm engine: %w", err)
		return core.NotConfigured(), e.err
	}
	d, err := res.Decision()
	if err != nil {
		return core.NotConfigured(), fmt.Errorf("proxywasm engine: %w", err)
	}
	return d, nil
}

// ready returns an error when the engine cannot decide, and replaces the Host or the module
// instance when it has served its share of requests.
func (e *ProxyWasm) ready() error {
	if e.err != nil {
		return e.err
	}
	if e.vm == nil {
		return errors.New("proxywasm engine: the engine is closed")
	}
	if e.hostRequests < proxyWasmHostRequests && e.vmRequests < proxyWasmVMRequests {
		return nil
	}
	e.host.Close()
	e.host = nil
	if e.vmRequests >= proxyWasmVMRequests {
		if err := e.replaceVM(); err != nil {
			e.err = err
			return err
		}
	}
	if err := e.startHost(); err != nil {
		e.err = err
		return err
	}
	return nil
}

// replaceVM closes the module instance and instantiates the module again.
func (e *ProxyWasm) replaceVM() error {
	if err := e.vm.Close(); err != nil {
		return fmt.Errorf("proxywasm engine: close the module: %w", err)
	}
	e.vm = nil
	vm, err := emulator.NewModuleVM(e.module)
	if err != nil {
		return fmt.Errorf("proxywasm engine: %w", err)
	}
	e.vm, e.vmRequests = vm, 0
	return nil
}

// Close releases the emulator and the module.
func (e *ProxyWasm) Close(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.host != nil {
		e.host.Close()
		e.host = nil
	}
	if e.vm == nil {
		return nil
	}
	err := e.vm.Close()
	e.vm = nil
	if err != nil {
		return fmt.Errorf("proxywasm engine: close the module: %w", err)
	}
	return nil
}
