// Package filter is tokengate's proxy-wasm HTTP filter. It decides each request with the core
// package from the request headers alone, then either sends the local reply of a denial or
// forwards the request with the identity headers set. The command in the parent folder builds
// it into a WebAssembly module for Envoy and Istio. On other platforms the SDK links its test
// host, so the same code runs in plain `go test`.
//
// Each plugin context (one per configuration the host loads) parses its configuration once in
// OnPluginStart. Every HTTP context keeps the settings that were current when the host
// created it, so a new configuration applies to new requests only.
package filter

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// NewVMContext returns the filter's VM context, the value the module passes to
// proxywasm.SetVMContext and tests pass to the SDK's emulator.
func NewVMContext() types.VMContext { return &vmContext{host: proxyHost{}} }

type vmContext struct {
	types.DefaultVMContext
	host host
}

func (vm *vmContext) NewPluginContext(uint32) types.PluginContext {
	return &pluginContext{host: vm.host}
}

type pluginContext struct {
	types.DefaultPluginContext
	host    host
	metrics *metrics
	// settings is nil while no valid configuration is loaded.
	settings *settings
}

// OnPluginStart loads the plugin configuration. An invalid one fails the start, and because
// some hosts keep the plugin serving anyway, every request then gets 503 not_configured.
func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	p.settings = nil
	m, err := defineMetrics()
	if err != nil {
		proxywasm.LogCriticalf("tokengate: %v; every request gets 503 not_configured", err)
		return types.OnPluginStartStatusFailed
	}
	p.metrics = m
	data, err := p.host.pluginConfiguration()
	switch {
	case errors.Is(err, types.ErrorStatusNotFound):
		data = nil // hosts report an empty configuration as not found
	case err != nil:
		return p.fail(fmt.Errorf("read the plugin configuration: %w", err))
	}
	return p.load(data)
}

// load validates a configuration and makes it current for HTTP contexts created from now on.
func (p *pluginContext) load(data []byte) types.OnPluginStartStatus {
	s, err := loadSettings(data)
	if err != nil {
		return p.fail(err)
	}
	p.settings = s
	// Collect the decoding garbage now, and close the collection cycle that decoding a large
	// bundle may leave open in a single-threaded module (see the load method in wasm/guest.go).
	runtime.GC()
	p.metrics.increment(p.metrics.configLoads)
	proxywasm.LogInfof("tokengate: configuration loaded: bundle %s with %d tokens and %d endpoints, shadow=%t, strip_credential=%t",
		s.info.Digest, s.info.Tokens, s.info.Endpoints, s.shadow, s.strip)
	return types.OnPluginStartStatusOK
}

// fail counts and logs a configuration that did not load, and leaves the plugin context
// without settings.
func (p *pluginContext) fail(err error) types.OnPluginStartStatus {
	p.settings = nil
	p.metrics.increment(p.metrics.configFailures)
	proxywasm.LogErrorf("tokengate: %v; every request gets 503 not_configured until a valid configuration loads", err)
	return types.OnPluginStartStatusFailed
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{host: p.host, metrics: p.metrics, settings: p.settings}
}

type httpContext struct {
	types.DefaultHttpContext
	host    host
	metrics *metrics
	// settings is the configuration current when the context was created; nil when none was.
	settings *settings
	// logged keeps the lines this context logged reachable until the host deletes it.
	// Proxies copy a line during the log call, but the SDK's emulator keeps a pointer into
	// module memory, which the collector could reuse while the request still runs.
	logged []string
}

// logInfo and logError log a line about this request and keep it (see logged).
func (h *httpContext) logInfo(msg string) {
	h.logged = append(h.logged, msg)
	proxywasm.LogInfo(msg)
}

func (h *httpContext) logError(msg string) {
	h.logged = append(h.logged, msg)
	proxywasm.LogError(msg)
}

// OnHttpRequestHeaders decides the request. It never reads the body, and it never continues a
// request after a failed host call or an internal error.
func (h *httpContext) OnHttpRequestHeaders(int, bool) (action types.Action) {
	defer func() {
		if r := recover(); r != nil {
			action = h.internalError(r)
		}
	}()
	if h.settings == nil {
		return h.notConfigured()
	}
	pairs, err := h.host.requestHeaders()
	if err != nil {
		return h.hostFailure("read the request headers", err)
	}
	now, err := readRequestTime(h.host)
	if err != nil {
		return h.hostFailure("decide", err)
	}
	req := buildRequest(pairs)
	d := h.settings.validator.Decide(req, now)
	h.metrics.decision(d.Reason)
	if d.Allow {
		return h.forward(pairs, d)
	}
	h.logInfo(newDenial(d, req, h.settings.shadow).String())
	if h.settings.shadow {
		h.metrics.increment(h.metrics.shadowDenials)
		return h.forward(pairs, d)
	}
	return h.reply(d)
}
