//go:build !wasip1

package main

import (
	"fmt"
	"os"
)

// main exists so that `go build ./...` works on other platforms; the package only does its
// work as a WebAssembly module.
func main() {
	fmt.Fprintln(os.Stderr, "tokengate wasm: this package is a WebAssembly module: build it with 'make build' (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared)")
	os.Exit(2)
}
