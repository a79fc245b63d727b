package filter

import "github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

// host is the part of the proxy-wasm host ABI that the filter calls to load its configuration
// and to decide a request. When a call fails while a request is decided, the filter replies
// 503 and does not forward the request. When the configuration read fails, the start fails.
// Tests replace it to make a call fail, which the SDK's emulator cannot do for header reads.
type host interface {
	pluginConfiguration() ([]byte, error)
	requestHeaders() ([][2]string, error)
	property(path []string) ([]byte, error)
	removeRequestHeader(name string) error
	replaceRequestHeader(name, value string) error
	sendLocalReply(status uint32, headers [][2]string, body []byte) error
}

// proxyHost calls the host through the SDK.
type proxyHost struct{}

func (proxyHost) pluginConfiguration() ([]byte, error) {
	return proxywasm.GetPluginConfiguration()
}

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
