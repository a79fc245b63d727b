package filter

import (
	"errors"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// Fault names a host call that a VM context from NewFaultyVMContext makes fail.
type Fault string

// The host calls a test can make fail.
const (
	FaultPluginConfiguration Fault = "read the plugin configuration"
	FaultRequestHeaders      Fault = "read the request headers"
	FaultProperty            Fault = "read a property"
	FaultRemoveHeader        Fault = "remove a request header"
	FaultReplaceHeader       Fault = "replace a request header"
	FaultSendReply           Fault = "send a local reply"
)

// ErrInjected is the error every injected fault returns.
var ErrInjected = errors.New("injected host call failure")

// NewFaultyVMContext returns the filter's VM context with the listed host calls failing.
func NewFaultyVMContext(faults ...Fault) types.VMContext {
	h := faultyHost{failing: map[Fault]bool{}}
	for _, f := range faults {
		h.failing[f] = true
	}
	return &vmContext{host: h}
}

// faultyHost calls the SDK like proxyHost, except for the failing calls.
type faultyHost struct {
	proxyHost
	failing map[Fault]bool
}

func (h faultyHost) pluginConfiguration() ([]byte, error) {
	if h.failing[FaultPluginConfiguration] {
		return nil, ErrInjected
	}
	return h.proxyHost.pluginConfiguration()
}

func (h faultyHost) requestHeaders() ([][2]string, error) {
	if h.failing[FaultRequestHeaders] {
		return nil, ErrInjected
	}
	return h.proxyHost.requestHeaders()
}

func (h faultyHost) property(path []string) ([]byte, error) {
	if h.failing[FaultProperty] {
		return nil, ErrInjected
	}
	return h.proxyHost.property(path)
}

func (h faultyHost) removeRequestHeader(name string) error {
	if h.failing[FaultRemoveHeader] {
		return ErrInjected
	}
	return h.proxyHost.removeRequestHeader(name)
}

func (h faultyHost) replaceRequestHeader(name, value string) error {
	if h.failing[FaultReplaceHeader] {
		return ErrInjected
	}
	return h.proxyHost.replaceRequestHeader(name, value)
}

func (h faultyHost) sendLocalReply(status uint32, headers [][2]string, body []byte) error {
	if h.failing[FaultSendReply] {
		return ErrInjected
	}
	return h.proxyHost.sendLocalReply(status, headers, body)
}

// ReconfigurableVM is the filter's VM context with a way to start a second plugin context
// while HTTP contexts of the first are still open, as a proxy does when the configuration
// changes. The SDK's emulator has one plugin context and creates every HTTP context through
// it, so that context hands each new HTTP context to the filter plugin context that started
// last.
type ReconfigurableVM struct {
	vmContext
	latest *pluginContext
}

// NewReconfigurableVMContext returns a ReconfigurableVM that calls the host through the SDK.
func NewReconfigurableVMContext() *ReconfigurableVM {
	return &ReconfigurableVM{vmContext: vmContext{host: proxyHost{}}}
}

func (vm *ReconfigurableVM) NewPluginContext(uint32) types.PluginContext {
	return &latestPluginContext{vm: vm}
}

// StartPlugin starts a new filter plugin context with pluginConfig, which HTTP contexts
// created from now on use, and returns its start status.
func (vm *ReconfigurableVM) StartPlugin(pluginConfig []byte) types.OnPluginStartStatus {
	vm.latest = &pluginContext{host: configHost{host: vm.host, config: pluginConfig}}
	return vm.latest.OnPluginStart(0)
}

// latestPluginContext is the one plugin context the emulator creates and calls.
type latestPluginContext struct {
	types.DefaultPluginContext
	vm *ReconfigurableVM
}

func (p *latestPluginContext) OnPluginStart(size int) types.OnPluginStartStatus {
	p.vm.latest = &pluginContext{host: p.vm.host}
	return p.vm.latest.OnPluginStart(size)
}

func (p *latestPluginContext) NewHttpContext(id uint32) types.HttpContext {
	return p.vm.latest.NewHttpContext(id)
}

// configHost returns its own plugin configuration in place of the emulator's.
type configHost struct {
	host
	config []byte
}

func (h configHost) pluginConfiguration() ([]byte, error) { return h.config, nil }
