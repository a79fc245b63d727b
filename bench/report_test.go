package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseGoBench_CannedOutput(t *testing.T) {
	g := readCannedBench(t)
	if g.CPU != "AMD EPYC 7B13" {
		t.Errorf("cpu = %q, expected the cpu header line", g.CPU)
	}
	cases := []struct {
		name, unit string
		want       float64
	}{
		{DecideNative, "ns/op", 400},
		{DecideExtism, "B/op", 211963},
		{PeerOPA, "allocs/op", 436},
		{ScaleName("native", 1_000_000), UnitHeapMB, 364},
		{ScaleName("wasm-lean", 1_000_000), UnitMemoryPages, 14720},
		{LoadParseStore, UnitCPUSeconds, 1.76},
	}
	for _, c := range cases {
		got, ok := g.Metric(c.name, c.unit)
		if !ok {
			t.Errorf("%s %s: missing", c.name, c.unit)
			continue
		}
		if got != c.want {
			t.Errorf("%s %s = %v, expected %v", c.name, c.unit, got, c.want)
		}
	}
	if _, ok := g.Metric(ColdCompile, "ns/op"); ok {
		t.Errorf("%s: present, though the output has no such line", ColdCompile)
	}
}

func TestParseGoBench_MalformedLine(t *testing.T) {
	_, err := ParseGoBench(strings.NewReader("BenchmarkX-2 \t 10 \t 12.5 ns/op \t 7\n"))
	if err == nil {
		t.Fatal("a result line with a value but no unit was accepted")
	}
	if !strings.Contains(err.Error(), "line 1") {
		t.Errorf("error %q does not name the line", err)
	}
	if _, err := ParseGoBench(strings.NewReader("BenchmarkX-2 \t 10 \t fast ns/op\n")); err == nil {
		t.Error("a result line with a non-numeric value was accepted")
	}
}

func TestRenderReport_CannedInput(t *testing.T) {
	in := ReportInput{
		Machine: Machine{CPU: "AMD EPYC 7B13", Cores: 2, MemoryBytes: 24 << 30, LoadAverage: "0.10 0.20 0.30",
			GoVersion: "go1.26.8", OS: "linux", Arch: "amd64"},
		Command:     "make bench",
		Date:        time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC),
		Go:          readCannedBench(t),
		GatewayLoad: LoadOptions{Connections: 32, Duration: 5 * time.Second, Warmup: time.Second, MaxRequests: 1000},
		Gateway: []GatewayRow{
			{Name: "proxy", Result: LoadResult{Requests: 50000, Elapsed: 5 * time.Second, P50: time.Millisecond, P99: 4 * time.Millisecond}},
			{Name: "tokengate-extism", Result: LoadResult{Requests: 35000, Elapsed: 5 * time.Second, P50: 2 * time.Millisecond, P99: 6 * time.Millisecond}},
			{Name: "tokengate-native", Result: LoadResult{Requests: 45000, Elapsed: 5 * time.Second, P50: time.Millisecond, P99: 5 * time.Millisecond}},
		},
		Modules: []ModuleFile{{Path: "build/tokengate.wasm", Bytes: 3 << 20}},
		NodeErr: "no Node output was passed (-node)",
	}
	var b strings.Builder
	if err := RenderReport(&b, in); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		"| CPU | AMD EPYC 7B13 |",
		"| cores | 2 |",
		"| memory | 24.0 GiB |",
		"| command | `make bench` |",
		"| date | 2026-06-01T12:00:00Z |",
		"| native allow path at least 100× faster than OPA | OPA / native = 367× (146.61 µs vs 400 ns) | met |",
		"| lean wasm allow path within 5× of native | lean / native = 4.00× (1.60 µs vs 400 ns) | met |",
		"| lean wasm allow path faster than JWT HS256 | lean / HS256 = 0.17× (1.60 µs vs 9.56 µs) | met |",
		"| gateway (extism engine) throughput at least 80% of the plain proxy | 70% (7000 of 10000 requests/s) | missed |",
		"| gateway (native engine) throughput at least 80% of the plain proxy | 90% (9000 of 10000 requests/s) | met |",
		"| 1,000,000-token store loads in under 2 s with core.ParseStore | 1.50 s | met |",
		"| 1,000,000-token store loads in under 2 s with core.DecodeBundle | not measured | unknown |",
		"| native decision with 1,000,000 tokens within 2× of 10 tokens | 1M / 10 = 2.20× (1.10 µs vs 500 ns) | missed |",
		"| wasm-lean decision with 1,000,000 tokens within 2× of 10 tokens | not measured | unknown |",
		"**gateway (extism engine) throughput at least 80% of the plain proxy: missed.**",
		"| tokengate wasm, Extism Go SDK v1.7.1 | 639.55 µs | 1599× | 211963 | 65 |",
		"| `tokengate serve --engine extism` | 7000 | 70% | 2.0 ms | 6.0 ms |",
		"| compile build/tokengate.wasm, no compilation cache | not measured |",
		"| build/tokengate.wasm | 3.00 MiB (3145728 bytes) |",
		"| native | 1,000,000 | 1.10 µs | 2.20× | 364.0 MB | not measured | 270.3 MB |",
		"| native | 10 | 500 ns | 1.00× | 14.2 kB | not measured | 6.0 kB |",
		"| wasm-lean | 1,000,000 | 18.23 µs |  | not measured | 14720 pages (920 MiB) | 270.3 MB |",
		"| lean_load_bundle in one wasm instance | 59.60 s | |",
		"| core.ParseStore (store file) | 1.50 s | 1.76 s |",
		"| core.DecodeBundle (bundle) | not measured | not measured |",
		"Not measured: no Node output was passed (-node).",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s", page)
	}
}

func readCannedBench(t *testing.T) *GoBench {
	t.Helper()
	f, err := os.Open("testdata/go-bench.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := ParseGoBench(f)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestAbsoluteTarget(t *testing.T) {
	cases := []struct {
		name      string
		v         float64
		wantKnown bool
		wantMet   bool
	}{
		{"under the bound", 900, true, true},
		{"at the bound", 1000, true, false},
		{"over the bound", 3100, true, false},
		{"not measured", 0, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := absoluteTarget("goal", c.v, 1000)
			if got.Known != c.wantKnown {
				t.Errorf("known = %t, want %t", got.Known, c.wantKnown)
			}
			if got.Met != c.wantMet {
				t.Errorf("met = %t, want %t", got.Met, c.wantMet)
			}
		})
	}
}

func TestParseGoBench_RepeatedRunsGiveMedian(t *testing.T) {
	out := "BenchmarkDecide/native-2  100  300 ns/op  0 B/op\n" +
		"BenchmarkDecide/native-2  100  900 ns/op  0 B/op\n" +
		"BenchmarkDecide/native-2  100  310 ns/op  0 B/op\n"
	g, err := ParseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if n := g.Runs(DecideNative); n != 3 {
		t.Errorf("runs = %d, want 3", n)
	}
	if ns, ok := g.Metric(DecideNative, "ns/op"); !ok || ns != 310 {
		t.Errorf("ns/op = %v (found %t), want the median 310", ns, ok)
	}
}

func TestWriteTargets_SharedCauseOnce(t *testing.T) {
	targets := []Target{
		{Goal: "goal a", Known: true, Cause: "shared cause."},
		{Goal: "goal b", Known: true, Met: true},
		{Goal: "goal c", Known: true, Cause: "shared cause."},
		{Goal: "goal d", Known: true, Cause: "own cause."},
	}
	var b strings.Builder
	writeTargets(&b, targets)
	page := b.String()
	if n := strings.Count(page, "shared cause."); n != 1 {
		t.Errorf("shared cause appears %d times, want once:\n%s", n, page)
	}
	if !strings.Contains(page, "**goal a; goal c: missed.** shared cause.") {
		t.Errorf("page does not name both goals before the shared cause:\n%s", page)
	}
	if !strings.Contains(page, "**goal d: missed.** own cause.") {
		t.Errorf("page lacks the cause of goal d:\n%s", page)
	}
}
