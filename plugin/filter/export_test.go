package filter

import (
	"errors"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// Fault names a host call that a VM context from NewFaultyVMContext makes fail.
type Fault string

// The host calls a test can make fail.
const (
	FaultRequestHeaders Fault = "read the request headers"
	FaultProperty       Fault = "read a property"
	FaultRemoveHeader   Fault = "remove a request header"
	FaultReplaceHeader  Fault = "replace a request header"
	FaultSendReply      Fault = "send a local reply"
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
