package bench

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// GoResult is one line of `go test -bench` output.
type GoResult struct {
	// Name is the benchmark name without the GOMAXPROCS suffix, such as "BenchmarkDecide/native".
	Name string
	// Iterations is the b.N of the reported run.
	Iterations int
	// Metrics maps a unit such as "ns/op", "B/op", "allocs/op" or a custom unit to its value.
	Metrics map[string]float64
}

// GoBench is the parsed output of one `go test -bench` run.
type GoBench struct {
	// CPU is the model that the "cpu:" header line names.
	CPU string
	// Results are keyed by name; a name that appears more than once (go test -count) keeps
	// its last result here and every result in runs.
	Results map[string]GoResult
	runs    map[string][]GoResult
}

// Metric returns a benchmark's figure in a unit, and whether the output has it. For a
// benchmark that ran more than once it returns the median of the runs, the upper of the two
// middle values for an even count, so one disturbed run does not decide a target.
func (g *GoBench) Metric(name, unit string) (float64, bool) {
	if g == nil {
		return 0, false
	}
	var values []float64
	for _, r := range g.runs[name] {
		if v, ok := r.Metrics[unit]; ok {
			values = append(values, v)
		}
	}
	if len(values) == 0 {
		return 0, false
	}
	slices.Sort(values)
	return values[len(values)/2], true
}

// Runs returns the number of results of a benchmark.
func (g *GoBench) Runs(name string) int {
	if g == nil {
		return 0
	}
	return len(g.runs[name])
}

// procsSuffix is the "-N" that go test appends to a benchmark name when GOMAXPROCS is not 1.
var procsSuffix = regexp.MustCompile(`-[0-9]+$`)

// ParseGoBench reads `go test -bench` output. Lines other than the cpu header and benchmark
// results (test output, PASS, ok) are skipped. A malformed result line is an error.
func ParseGoBench(r io.Reader) (*GoBench, error) {
	out := &GoBench{Results: map[string]GoResult{}, runs: map[string][]GoResult{}}
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for scanner.Scan() {
		line++
		text := scanner.Text()
		if cpu, ok := strings.CutPrefix(text, "cpu: "); ok {
			out.CPU = strings.TrimSpace(cpu)
			continue
		}
		if !strings.HasPrefix(text, "Benchmark") {
			continue
		}
		res, ok, err := parseResultLine(text)
		if err != nil {
			return nil, fmt.Errorf("benchmark output line %d: %w", line, err)
		}
		if ok {
			out.Results[res.Name] = res
			out.runs[res.Name] = append(out.runs[res.Name], res)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	return out, nil
}

// parseResultLine parses "BenchmarkX-2  1000  12.5 ns/op  0 B/op ...". A line with the name
// alone, which go test prints before a benchmark's own log output, is skipped.
func parseResultLine(text string) (GoResult, bool, error) {
	fields := strings.Fields(text)
	if len(fields) < 2 {
		return GoResult{}, false, nil
	}
	iterations, err := strconv.Atoi(fields[1])
	if err != nil {
		return GoResult{}, false, nil
	}
	if len(fields)%2 != 0 {
		return GoResult{}, false, fmt.Errorf("%q: expected value and unit pairs after the iteration count", text)
	}
	res := GoResult{
		Name:       procsSuffix.ReplaceAllString(fields[0], ""),
		Iterations: iterations,
		Metrics:    map[string]float64{},
	}
	for i := 2; i < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return GoResult{}, false, fmt.Errorf("%q: value %q of unit %s is not a number", text, fields[i], fields[i+1])
		}
		res.Metrics[fields[i+1]] = v
	}
	return res, true, nil
}
