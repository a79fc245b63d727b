package bench

import "fmt"

// Benchmark names that the report generator reads. The benchmarks in this package's tests
// register under exactly these names.
const (
	DecideNative       = "BenchmarkDecide/native"
	DecideNativeCached = "BenchmarkDecide/native-cached"
	DecideLean         = "BenchmarkDecide/wasm-lean"
	DecideLeanNoCache  = "BenchmarkDecide/wasm-lean-nocache"
	DecideExtism       = "BenchmarkDecide/wasm-extism"
	DecideProxyWasm    = "BenchmarkDecide/proxywasm"

	PeerOPA   = "BenchmarkPeer/opa"
	PeerHS256 = "BenchmarkPeer/jwt-hs256"
	PeerES256 = "BenchmarkPeer/jwt-es256"

	LoadParseStore   = "BenchmarkLoad/parse-store/tokens=1000000"
	LoadDecodeBundle = "BenchmarkLoad/decode-bundle/tokens=1000000"

	ColdCompile       = "BenchmarkColdStart/compile"
	ColdCompileCached = "BenchmarkColdStart/compile-cached"
	ColdInstantiate   = "BenchmarkColdStart/instantiate"
)

// ScaleSizes are the store sizes of BenchmarkScale.
var ScaleSizes = []int{10, 10_000, 1_000_000}

// ScaleName returns the name of the BenchmarkScale run of an engine ("native" or
// "wasm-lean") against a store of n tokens.
func ScaleName(engine string, n int) string {
	return fmt.Sprintf("BenchmarkScale/%s/tokens=%d", engine, n)
}

// Units of the custom metrics that the benchmarks report.
const (
	UnitHeapMB      = "heap-MB"    // live Go heap of the store and validator
	UnitBundleMB    = "bundle-MB"  // size of the encoded bundle
	UnitMemoryPages = "wasm-pages" // linear memory of one instance, in 64 KiB pages
	UnitLoadSeconds = "load-s"     // time to load the bundle into one instance
	UnitCPUSeconds  = "cpu-s/op"   // process CPU time per operation, all threads
)
