// Command benchreport writes docs/benchmarks.md from one `make bench` run: it reads the output
// of `go test -bench` and of the Node benchmark script, runs the gateway load comparison on
// loopback, and renders the figures with the machine's description and the targets.
//
// Two subcommands serve `make bench` itself: `benchreport plain-proxy -listen ADDR -upstream
// URL` serves the baseline reverse proxy of the gateway comparison (benchreport starts itself
// that way), and `benchreport node-inputs FOLDER` writes the bundle and request that
// tests/node/bench.mjs reads.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tokengate/tokengate/bench"
	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/internal/atomicfile"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

// options are the command-line settings.
type options struct {
	goOutput, nodeOutput, nodeLog       string
	partsNative, partsWasm              string
	output, command                     string
	binary, policy, modules, gatewayLog string
	engines                             string
	rounds                              int
	gateway                             bool
	load                                bench.LoadOptions
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.goOutput, "go", "", "`file` with the output of go test -bench (required)")
	fs.StringVar(&o.nodeOutput, "node", "", "`file` with the JSON lines of tests/node/bench.mjs; none when empty")
	fs.StringVar(&o.nodeLog, "node-log", "", "`file` with the standard error of the Node script, quoted when it produced no results")
	fs.StringVar(&o.partsNative, "parts-native", "", "`file` with the output of core's benchmarks run natively; none when empty")
	fs.StringVar(&o.partsWasm, "parts-wasm", "", "`file` with the output of core's benchmarks run as wasip1 under wazero; none when empty")
	fs.StringVar(&o.output, "o", "docs/benchmarks.md", "report `file` to write")
	fs.StringVar(&o.command, "command", "make bench", "command `line` to print as the source of the figures")
	fs.BoolVar(&o.gateway, "gateway", true, "run the gateway load comparison")
	fs.StringVar(&o.binary, "binary", "build/tokengate", "tokengate `executable` for the gateway runs")
	fs.StringVar(&o.policy, "policy", "scopes.yaml", "policy `file`")
	fs.StringVar(&o.modules, "modules", "build", "`folder` with the built wasm modules")
	fs.StringVar(&o.engines, "engines", "extism,native", "comma-separated `engines` to run tokengate serve with")
	fs.StringVar(&o.gatewayLog, "gateway-log", "build/bench/gateway.log", "`file` that receives the gateways' logs")
	fs.IntVar(&o.rounds, "rounds", 3, "`rounds` of gateway runs; each proxy's row is its median round")
	fs.IntVar(&o.load.Connections, "connections", 32, "concurrent keep-alive `connections` of each gateway run")
	fs.DurationVar(&o.load.Duration, "duration", 5*time.Second, "measured `duration` of each gateway run")
	fs.DurationVar(&o.load.Warmup, "warmup", time.Second, "unmeasured warm-up `duration` before each gateway run")
	fs.IntVar(&o.load.MaxRequests, "max-requests", 2_000_000, "maximum measured `requests` of each gateway run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.goOutput == "" {
		return o, errors.New("-go is required: pass the file with the output of go test -bench")
	}
	return o, nil
}

func run(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == bench.PlainProxyCommand {
		if err := bench.RunPlainProxyCommand(args[1:], stderr); err != nil {
			fmt.Fprintf(stderr, "benchreport: %v\n", err)
			return 1
		}
		return 0
	}
	if len(args) > 0 && args[0] == nodeInputsCommand {
		if err := writeNodeInputs(args[1:]); err != nil {
			fmt.Fprintf(stderr, "benchreport: %v\n", err)
			return 1
		}
		return 0
	}
	o, err := parseOptions(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 2
	}
	in, err := collect(context.Background(), o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 1
	}
	var page bytes.Buffer
	if err := bench.RenderReport(&page, in); err != nil {
		fmt.Fprintf(stderr, "benchreport: render: %v\n", err)
		return 1
	}
	if err := atomicfile.Write(o.output, page.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "benchreport: wrote %s\n", o.output)
	return 0
}

// collect gathers every figure of the report.
func collect(ctx context.Context, o options, stderr io.Writer) (bench.ReportInput, error) {
	in := bench.ReportInput{Command: o.command, Date: time.Now(), GatewayLoad: o.load}
	data, err := os.ReadFile(o.goOutput)
	if err != nil {
		return in, fmt.Errorf("read go test output: %w", err)
	}
	if in.Go, err = bench.ParseGoBench(bytes.NewReader(data)); err != nil {
		return in, err
	}

	if o.partsNative != "" && o.partsWasm != "" {
		if in.PartsNative, err = readGoBench(o.partsNative); err != nil {
			return in, err
		}
		if in.PartsWasm, err = readGoBench(o.partsWasm); err != nil {
			return in, err
		}
	}

	in.Modules = moduleSizes(o.modules)
	in.Node, in.NodeErr = readNode(o.nodeOutput)
	if in.NodeErr != "" {
		if last := lastLine(o.nodeLog); last != "" {
			in.NodeErr += " (the script printed: " + last + ")"
		}
	}

	if o.gateway {
		in.Gateway, in.GatewayErr = runGateway(ctx, o, stderr)
	} else {
		in.GatewayErr = "the run passed -gateway=false"
	}
	// Read last, so the load average covers the gateway runs too.
	in.Machine = bench.ReadMachine()
	return in, nil
}

// readGoBench reads and parses a file of go test -bench output.
func readGoBench(path string) (*bench.GoBench, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read go test output: %w", err)
	}
	g, err := bench.ParseGoBench(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// moduleSizes stats the built modules in dir, skipping those not built.
func moduleSizes(dir string) []bench.ModuleFile {
	var out []bench.ModuleFile
	for _, name := range []string{"tokengate.wasm", "tokengate-proxywasm.wasm"} {
		path := filepath.Join(dir, name)
		if st, err := os.Stat(path); err == nil {
			out = append(out, bench.ModuleFile{Path: filepath.ToSlash(path), Bytes: st.Size()})
		}
	}
	return out
}

// readNode reads the JSON lines of the Node script, or returns why there are none.
func readNode(path string) ([]bench.NodeResult, string) {
	if path == "" {
		return nil, "no Node output was passed (-node)"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Sprintf("read %s: %v", path, err)
	}
	var out []bench.NodeResult
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var r bench.NodeResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Sprintf("%s line %d is not a JSON result: %v", path, i+1, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, path + " has no results"
	}
	return out, ""
}

// nodeInputsCommand names the subcommand that writes the inputs of tests/node/bench.mjs.
const nodeInputsCommand = "node-inputs"

// writeNodeInputs writes bundle.json and request.json, the 10-token bundle and the allowed
// request at bench.Now in the decide input format, into the folder args names. A second
// argument names the policy file (scopes.yaml by default).
func writeNodeInputs(args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return fmt.Errorf("usage: benchreport %s FOLDER [POLICY]", nodeInputsCommand)
	}
	policy := "scopes.yaml"
	if len(args) == 2 {
		policy = args[1]
	}
	f, err := bench.NewFixture(policy, 10)
	if err != nil {
		return err
	}
	bundle, err := f.Bundle()
	if err != nil {
		return err
	}
	request, err := json.Marshal(struct {
		core.Request
		Now time.Time `json:"now"`
	}{f.Request, bench.Now})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(args[0], 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(args[0], "bundle.json"), bundle, 0o644); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(args[0], "request.json"), request, 0o644)
}

// lastLine returns the last non-empty line of a file, or "" when there is none.
func lastLine(path string) string {
	if path == "" {
		return ""
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// runGateway runs the gateway comparison, or returns why it could not.
func runGateway(ctx context.Context, o options, stderr io.Writer) ([]bench.GatewayRow, string) {
	if _, err := os.Stat(o.binary); err != nil {
		return nil, fmt.Sprintf("%s is not built: run make build", o.binary)
	}
	f, err := bench.NewFixture(o.policy, 10)
	if err != nil {
		return nil, err.Error()
	}
	if err := os.MkdirAll(filepath.Dir(o.gatewayLog), 0o755); err != nil {
		return nil, err.Error()
	}
	logFile, err := os.Create(o.gatewayLog)
	if err != nil {
		return nil, err.Error()
	}
	defer logFile.Close()

	var engines []string
	for _, e := range strings.Split(o.engines, ",") {
		if e = strings.TrimSpace(e); e != "" {
			engines = append(engines, e)
		}
	}
	fmt.Fprintf(stderr, "benchreport: gateway runs: %d rounds of proxy, %s (%d connections, %s each)\n",
		max(o.rounds, 1), strings.Join(engines, ", "), o.load.Connections, o.load.Duration)

	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Sprintf("find the benchreport executable for the plain proxy: %v", err)
	}
	rows, err := bench.RunGatewayBench(ctx, f, bench.GatewayBenchOptions{
		PlainProxy: []string{self, bench.PlainProxyCommand},
		Binary:     o.binary, Policy: o.policy, Modules: o.modules, Engines: engines, Load: o.load, Log: logFile,
		Rounds: o.rounds,
	})
	if err != nil {
		fmt.Fprintf(stderr, "benchreport: gateway: %v (log in %s)\n", err, o.gatewayLog)
		return nil, err.Error()
	}
	return rows, ""
}
