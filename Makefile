# tokengate build and test entry points. `make check` mirrors what CI checks besides tests.
GO      ?= go
BUILD   := build
WASMENV := GOOS=wasip1 GOARCH=wasm

.PHONY: all build run test check bench fuzz soak clean

all: build

build: $(BUILD)/tokengate $(BUILD)/tokengate.wasm $(BUILD)/tokengate-proxywasm.wasm

# The Go sources are tracked by go itself; FORCE lets it decide what to rebuild.
$(BUILD)/tokengate: FORCE
	$(GO) build -o $@ ./host/cmd/tokengate

$(BUILD)/tokengate.wasm: FORCE
	$(WASMENV) $(GO) build -buildmode=c-shared -o $@ ./wasm

$(BUILD)/tokengate-proxywasm.wasm: FORCE
	$(WASMENV) $(GO) build -buildmode=c-shared -o $@ ./plugin

FORCE:

test: build
	$(GO) test -short ./...

check:
	test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(WASMENV) $(GO) vet ./wasm ./plugin
	$(GO) mod tidy -diff

clean:
	rm -rf $(BUILD)
