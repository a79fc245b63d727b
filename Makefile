# tokengate build and test entry points. `make check` mirrors what CI checks besides tests.
GO      ?= go
BUILD   := build
WASMENV := GOOS=wasip1 GOARCH=wasm

.PHONY: all build deps run test check bench fuzz soak clean

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

# Demo. The first run writes a policy and a store with demo tokens to state/ and prints their
# secrets and curl commands. Then the gateway serves them on ADDR, with the mock upstream in
# place of the Client API. Another address: make run ADDR=127.0.0.1:18080.
ADDR ?= 127.0.0.1:8080
run: build
	./$(BUILD)/tokengate demo --state state --addr $(ADDR)
	@echo "Starting tokengate serve on http://$(ADDR) with the mock upstream; Ctrl-C stops it."
	exec ./$(BUILD)/tokengate serve --mock-upstream --listen $(ADDR) --policy state/scopes.yaml --store state/tokens.json

# Debian packages (nginx, Caddy, Node.js) and npm packages for the tests that use them.
deps:
	./scripts/install-deps.sh

# The second run repeats the concurrency tests of the wasm host under the race detector.
test: deps build
	$(GO) test -short ./...
	$(GO) test -short -race -run 'Hammer|Concurrent' ./host

# Benchmarks (package bench): the Go benchmarks, core's own benchmarks natively and as wasip1
# under wazero, the Node runtime, then the gateway load runs in benchreport, which writes
# docs/benchmarks.md. About 8 minutes on 2 cores; run it on an otherwise idle machine,
# because the figures are wall times.
BENCHOUT := $(BUILD)/bench
bench: build
	mkdir -p $(BENCHOUT)
	$(GO) test -run '^$$' -bench 'BenchmarkDecide|BenchmarkPeer|BenchmarkScale' -benchmem -count 3 -timeout 60m \
		./bench > $(BENCHOUT)/go.txt; status=$$?; cat $(BENCHOUT)/go.txt; exit $$status
	$(GO) test -run '^$$' -bench 'BenchmarkLoad|BenchmarkColdStart' -benchmem -count 1 -timeout 60m \
		./bench > $(BENCHOUT)/go-once.txt; status=$$?; cat $(BENCHOUT)/go-once.txt; exit $$status
	cat $(BENCHOUT)/go-once.txt >> $(BENCHOUT)/go.txt
	$(GO) test -run '^$$' -bench 'Decide' -benchmem -count 3 ./core > $(BENCHOUT)/parts-native.txt
	$(GO) build -o $(BUILD)/wasirun ./internal/wasirun
	$(WASMENV) $(GO) test -exec "$(CURDIR)/$(BUILD)/wasirun" -run '^$$' -bench 'Decide' -benchmem -count 3 ./core \
		> $(BENCHOUT)/parts-wasm.txt
	$(GO) run ./bench/cmd/benchreport node-inputs $(BENCHOUT)
	test -d tests/node/node_modules || (cd tests/node && npm ci)
	node tests/node/bench.mjs $(BUILD)/tokengate.wasm $(BENCHOUT)/bundle.json $(BENCHOUT)/request.json \
		> $(BENCHOUT)/node.jsonl 2> $(BENCHOUT)/node.err || \
		{ cat $(BENCHOUT)/node.err; echo "node benchmark failed; the report shows it as not measured"; }
	$(GO) run ./bench/cmd/benchreport -go $(BENCHOUT)/go.txt -node $(BENCHOUT)/node.jsonl \
		-node-log $(BENCHOUT)/node.err -parts-native $(BENCHOUT)/parts-native.txt \
		-parts-wasm $(BENCHOUT)/parts-wasm.txt -command "make bench" -o docs/benchmarks.md

# Fuzzing: each fuzz target for FUZZTIME, one after another (15 targets, about 5 minutes at
# the default). A failing input lands in the package's testdata/fuzz folder.
FUZZTIME ?= 20s
fuzz: build
	./scripts/fuzz.sh $(FUZZTIME)

# The long runs that -short cuts down or skips, verbose so that they print their figures:
# 1,000,000-decision soaks of the wasm host and the proxy-wasm filter, the 200-connection load
# test through serve, and the full hammer, differential and proxy-wasm engine runs.
soak: build
	$(GO) test -timeout 60m -count 1 -v -run 'Soak|TestServe_Load$$|Hammer|Differential|TestProxyWasm_Engine' \
		./host ./plugin/filter ./tests ./tests/hostile

check:
	test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(WASMENV) $(GO) vet ./wasm ./plugin
	$(GO) mod tidy -diff

clean:
	rm -rf $(BUILD)
