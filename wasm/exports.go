//go:build wasip1

package main

import (
	"time"

	"github.com/extism/go-pdk"
	"github.com/tokengate/tokengate/internal/leanabi"
)

// instance is the state of this module instance, set up in init.
var instance *guest

func init() { instance = newGuest() }

// main is empty: a c-shared module runs init from _initialize and then serves its exports.
func main() {}

// loadFromConfig reads the bundle from the Extism config on the first Extism call and logs a
// load failure once.
func loadFromConfig() {
	if instance.loaded {
		return
	}
	value, found := pdk.GetConfig(ConfigKeyBundle)
	if err := instance.loadConfig(value, found); err != nil {
		pdk.Log(pdk.LogError, "tokengate: every request is decided not_configured: "+err.Error())
	}
}

// decide is the Extism export that decides one JSON request; see decideInput. It returns 0
// with the decision JSON as output, or 1 with an Extism error for invalid input.
//
//go:wasmexport decide
func decide() int32 {
	loadFromConfig()
	out, err := instance.decideJSON(pdk.Input(), time.Now)
	if err != nil {
		pdk.SetError(err)
		return 1
	}
	pdk.Output(out)
	return 0
}

// describe is the Extism export that outputs the Description JSON of the instance.
//
//go:wasmexport describe
func describe() int32 {
	loadFromConfig()
	out, err := instance.describeJSON()
	if err != nil {
		pdk.SetError(err)
		return 1
	}
	pdk.Output(out)
	return 0
}

//go:wasmexport lean_abi_version
func leanABIVersion() uint32 { return leanabi.Version }

//go:wasmexport lean_buffer
func leanBuffer(n uint32) uint32 { return pointer(instance.buffer(n)) }

//go:wasmexport lean_load_bundle
func leanLoadBundle(n uint32) uint64 {
	msg := instance.loadLean(n)
	return leanabi.Pack(pointer(msg), uint32(len(msg)))
}

//go:wasmexport lean_decide
func leanDecide(n uint32) uint64 {
	out := instance.decideLean(n)
	return leanabi.Pack(pointer(out), uint32(len(out)))
}

//go:wasmexport lean_set_credential_cache
func leanSetCredentialCache(entries int32) { instance.setCache(int(entries)) }
