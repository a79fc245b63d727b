// Command plugin is tokengate's proxy-wasm HTTP filter for Envoy and Istio. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o build/tokengate-proxywasm.wasm ./plugin
//
// The filter logic lives in package [github.com/tokengate/tokengate/plugin/filter], so it also
// runs in plain `go test`; docs/proxywasm.md describes its configuration and metrics.
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

	"github.com/tokengate/tokengate/plugin/filter"
)

// main is empty: a c-shared (WASI reactor) module is driven by the host's calls into its
// exports, and the VM context is set in init.
func main() {}

func init() {
	proxywasm.SetVMContext(filter.NewVMContext())
}
