package filter

import "github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

// host is the part of the proxy-wasm host ABI that the filter calls while it decides a
// request. When one of these calls fails, the filter replies 503 and does not forward the
// request.
// Tests replace it to make a call fail, which the SDK's emulator cannot do for header reads.
type host interface {
	requestHeaders() ([][2]string, error)
	property(path []string) ([]byte, error)
	removeRequestHeader(name string) error
	replaceRequestHeader(name, value string) error
	sendLocalReply(status uint32, headers [][2]string, body []byte) error
}

// proxyHost calls the host through the SDK.
type proxyHost struct{}

func (proxyHost) requestHeaders() ([][2]string, error) { return proxywasm.GetHttpRequestHeaders() }

func (proxyHost) property(path []string) ([]byte, error) { return proxywasm.GetProperty(path) }

func (proxyHost) removeRequestHeader(name string) error {
	return proxywasm.RemoveHttpRequestHeader(name)
}

func (proxyHost) replaceRequestHeader(name, value string) error {
	return proxywasm.ReplaceHttpRequestHeader(name, value)
}

// sendLocalReply sends an HTTP reply that is not a gRPC stream, so the gRPC status is -1.
func (proxyHost) sendLocalReply(status uint32, headers [][2]string, body []byte) error {
	return proxywasm.SendHttpResponse(status, headers, body, -1)
}
