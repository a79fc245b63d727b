// Package host runs the tokengate module (build/tokengate.wasm) on wazero, like a test server
// in httptest: [New] loads and compiles the module, [Host.Decide] decides a request on a pool
// of module instances, and [Host.Close] releases them.
//
// The Host decides through the module's lean ABI (see internal/leanabi): the request goes into
// guest memory in a compact binary layout and the decision comes back the same way, with no
// JSON on the hot path. [Host.DecideJSON] and [Host.Describe] call the module's Extism exports
// decide and describe instead, through Extism host functions that this package defines for
// the imports the module declares, so the Host needs no Extism runtime.
//
// # Which engine to use
//
//   - In a Go program that can link package core, decide natively with [core.Validator]
//     (engine "native"). It is the fastest and has no module to ship.
//   - To run the exact module that other runtimes run (a Node service, an Extism host, a
//     proxy), use this package (engine "extism"). The Go side then decides with the same
//     bytes, so a difference between runtimes shows up in Go tests.
//   - For a host that needs Extism's own features (manifests, host functions of your own,
//     HTTP allow lists, timeouts), load the module with the Extism SDK of its language and
//     call decide with the bundle in the plugin config key "bundle".
//
// # Failure
//
// The Host fails closed. Without a bundle, with a bundle the module rejects, after a guest
// trap, or once closed, a call returns an error and the not_configured decision (503), never
// an allow. A trapped instance is discarded and the next call gets a fresh one.
//
// Each Host has its own wazero runtime, but every Host of a process shares a compilation
// cache (in memory, or Options.CacheDir), so a second Host or a reload with [New] does not
// compile the module again.
package host
