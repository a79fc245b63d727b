package core

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fuzzDecideSeedDir holds the seed corpus of FuzzDecide: one file per conformance case.
var fuzzDecideSeedDir = filepath.Join("testdata", "fuzz", "FuzzDecide")

// fuzzDecideSeeds returns the seed corpus of FuzzDecide generated from the conformance file,
// keyed by file name.
func fuzzDecideSeeds(tb testing.TB) map[string]string {
	tb.Helper()
	file, _ := readConformance(tb)
	nonSlug := regexp.MustCompile(`[^a-z0-9]+`)
	seeds := make(map[string]string, len(file.Cases))
	for i, c := range file.Cases {
		lines, ok := encodeHeaderLines(c.Headers)
		if !ok {
			tb.Fatalf("case %d (%s): its headers do not fit the fuzz encoding", i, c.Name)
		}
		now := file.Now
		if c.Now != nil {
			now = *c.Now
		}
		name := "conformance-" + strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(c.Name), "-"), "-")
		if _, dup := seeds[name]; dup {
			tb.Fatalf("case %d (%s): another case has the seed name %s", i, c.Name, name)
		}
		seeds[name] = fmt.Sprintf("go test fuzz v1\nstring(%q)\nstring(%q)\nstring(%q)\nint64(%d)\n",
			c.Method, c.Path, lines, now.UnixNano())
	}
	return seeds
}

// TestFuzzDecideSeeds_UpToDate checks that the FuzzDecide corpus is exactly the conformance
// cases. Run go test ./core -run TestFuzzDecideSeeds -update after changing cases.json.
func TestFuzzDecideSeeds_UpToDate(t *testing.T) {
	want := fuzzDecideSeeds(t)
	if *updateFixtures {
		writeFuzzDecideSeeds(t, want)
	}
	entries, err := os.ReadDir(fuzzDecideSeedDir)
	if err != nil {
		t.Fatalf("read seed corpus: %v (run go test ./core -run TestFuzzDecideSeeds -update)", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		data, err := os.ReadFile(filepath.Join(fuzzDecideSeedDir, e.Name()))
		if err != nil {
			t.Fatalf("read seed: %v", err)
		}
		if w, ok := want[e.Name()]; ok && string(data) != w {
			t.Errorf("seed %s is stale: run go test ./core -run TestFuzzDecideSeeds -update", e.Name())
		}
	}
	for name := range want {
		if !slices.Contains(names, name) {
			t.Errorf("seed %s is missing: run go test ./core -run TestFuzzDecideSeeds -update", name)
		}
	}
	for _, name := range names {
		if _, ok := want[name]; !ok && strings.HasPrefix(name, "conformance-") {
			t.Errorf("seed %s has no conformance case: run go test ./core -run TestFuzzDecideSeeds -update", name)
		}
	}
}

// writeFuzzDecideSeeds replaces the generated seeds. Seeds that the fuzzer added (names
// without the conformance- prefix) stay.
func writeFuzzDecideSeeds(t *testing.T, seeds map[string]string) {
	t.Helper()
	if err := os.MkdirAll(fuzzDecideSeedDir, 0o755); err != nil {
		t.Fatalf("create seed folder: %v", err)
	}
	old, _ := filepath.Glob(filepath.Join(fuzzDecideSeedDir, "conformance-*"))
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			t.Fatalf("remove stale seed: %v", err)
		}
	}
	for name, content := range seeds {
		if err := os.WriteFile(filepath.Join(fuzzDecideSeedDir, name), []byte(content), 0o644); err != nil {
			t.Fatalf("write seed: %v", err)
		}
	}
}
