package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
)

// differentialCase is one request of the differential test.
type differentialCase struct {
	name string
	req  core.Request
	now  time.Time
}

// differentialCases returns the conformance cases, the inputs of core's FuzzDecide corpus and
// count random requests.
func differentialCases(t *testing.T, count int) []differentialCase {
	f, _ := loadCases(t)
	var cases []differentialCase
	for _, c := range f.Cases {
		cases = append(cases, differentialCase{c.Name, c.Request(), c.Instant(f)})
	}
	corpus := readFuzzDecideCorpus(t)
	// The corpus contains one seed per conformance case, plus the inputs the fuzzer saved.
	if len(corpus) < len(f.Cases) {
		t.Fatalf("%s has %d inputs, fewer than the %d conformance cases", fuzzDecideCorpus, len(corpus), len(f.Cases))
	}
	cases = append(cases, corpus...)
	g := newRequestGenerator(t, f, 20260601)
	for i := range count {
		req, now := g.request()
		cases = append(cases, differentialCase{fmt.Sprintf("random %d", i), req, now})
	}
	return cases
}

// fuzzDecideCorpus is the corpus folder of core's FuzzDecide, which decides on the same
// policy and tokens as loadCases.
const fuzzDecideCorpus = "../core/testdata/fuzz/FuzzDecide"

// readFuzzDecideCorpus returns every input of the FuzzDecide corpus as a request. A corpus file
// holds the fuzz arguments (method, path, header lines, Unix nanoseconds) in the
// "go test fuzz v1" encoding. The header lines separate fields with "\n", and a field's name
// from its value with the first ':'.
func readFuzzDecideCorpus(t *testing.T) []differentialCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fuzzDecideCorpus, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []differentialCase
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		method, target, headerLines, unixNano, err := parseFuzzDecideInput(string(data))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		req := core.Request{Method: method, Path: target}
		if headerLines != "" {
			for _, line := range strings.Split(headerLines, "\n") {
				name, value, _ := strings.Cut(line, ":")
				req.Headers = append(req.Headers, core.Header{Name: name, Value: value})
			}
		}
		cases = append(cases, differentialCase{"corpus " + filepath.Base(path), req, time.Unix(0, unixNano).UTC()})
	}
	return cases
}

// parseFuzzDecideInput decodes one FuzzDecide corpus file: three strings and an int64.
func parseFuzzDecideInput(data string) (method, target, headerLines string, unixNano int64, err error) {
	lines := strings.Split(strings.TrimSpace(data), "\n")
	if len(lines) != 5 || lines[0] != "go test fuzz v1" {
		return "", "", "", 0, fmt.Errorf("want the header line 'go test fuzz v1' and 4 values, got %d lines", len(lines))
	}
	var text [3]string
	for i := range text {
		quoted, ok := strings.CutPrefix(lines[1+i], "string(")
		if !ok || !strings.HasSuffix(quoted, ")") {
			return "", "", "", 0, fmt.Errorf("value %d is %q, want string(...)", i+1, lines[1+i])
		}
		if text[i], err = strconv.Unquote(strings.TrimSuffix(quoted, ")")); err != nil {
			return "", "", "", 0, fmt.Errorf("value %d: %w", i+1, err)
		}
	}
	number, ok := strings.CutPrefix(lines[4], "int64(")
	if !ok || !strings.HasSuffix(number, ")") {
		return "", "", "", 0, fmt.Errorf("value 4 is %q, want int64(...)", lines[4])
	}
	if unixNano, err = strconv.ParseInt(strings.TrimSuffix(number, ")"), 10, 64); err != nil {
		return "", "", "", 0, fmt.Errorf("value 4: %w", err)
	}
	return text[0], text[1], text[2], unixNano, nil
}

// sentOverJSON returns the request and instant that the decide export reads from input. They
// differ from what the caller encoded only where JSON cannot carry a string: encoding/json
// replaces each invalid UTF-8 byte with U+FFFD.
func sentOverJSON(t *testing.T, input []byte) (core.Request, time.Time) {
	t.Helper()
	var sent struct {
		core.Request
		Now time.Time `json:"now"`
	}
	if err := json.Unmarshal(input, &sent); err != nil {
		t.Fatalf("decode %s: %v", input, err)
	}
	return sent.Request, sent.Now
}

// TestDecide_Differential requires the native core, the lean ABI and the Extism decide
// export to return identical decisions for the conformance cases, the FuzzDecide corpus and
// random requests.
func TestDecide_Differential(t *testing.T) {
	count := 3000
	if testing.Short() {
		count = 1000
	}
	_, bundle := loadCases(t)
	native, _, err := core.DecodeBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, hostOptions(bundle))
	ctx := context.Background()
	reasons := map[core.Reason]int{}
	for _, c := range differentialCases(t, count) {
		want := native.Decide(c.req, c.now)
		reasons[want.Reason]++
		lean, err := h.Decide(ctx, c.req, c.now)
		if err != nil {
			t.Fatalf("%s: lean: %v", c.name, err)
		}
		if lean != want {
			t.Errorf("%s: %+v\nlean   %+v\nnative %+v", c.name, c.req, lean, want)
		}
		input := decideInput(t, c.req, c.now)
		out, err := h.DecideJSON(ctx, input)
		if err != nil {
			t.Fatalf("%s: extism: %v", c.name, err)
		}
		var viaJSON core.Decision
		if err := json.Unmarshal(out, &viaJSON); err != nil {
			t.Fatalf("%s: decode %s: %v", c.name, out, err)
		}
		sent, sentNow := sentOverJSON(t, input)
		if wantJSON := native.Decide(sent, sentNow); viaJSON != wantJSON {
			t.Errorf("%s: %s\nextism %+v\nnative %+v", c.name, input, viaJSON, wantJSON)
		}
	}
	// The generator must reach every reason but not_configured, or the test proves little.
	for _, r := range core.AllReasons() {
		if r != core.ReasonNotConfigured && r != core.ReasonPublicEndpoint && reasons[r] == 0 {
			t.Errorf("no request was decided %s", r)
		}
	}
	t.Logf("reasons: %v", reasons)
}

// TestDecide_ExtismSDK runs the conformance cases through the decide export under the
// Extism Go SDK, which is how other Extism hosts load the module.
func TestDecide_ExtismSDK(t *testing.T) {
	f, bundle := loadCases(t)
	native, _, err := core.DecodeBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	plugin := newExtismPlugin(t, bundle)
	for _, c := range f.Cases {
		rc, out, err := plugin.Call("decide", decideInput(t, c.Request(), c.Instant(f)))
		if err != nil || rc != 0 {
			t.Fatalf("%s: code %d, error %v", c.Name, rc, err)
		}
		var d core.Decision
		if err := json.Unmarshal(out, &d); err != nil {
			t.Fatalf("%s: decode %s: %v", c.Name, out, err)
		}
		if want := native.Decide(c.Request(), c.Instant(f)); d != want {
			t.Errorf("%s:\nextism %+v\nnative %+v", c.Name, d, want)
		}
	}
}

// TestDecide_ExtismSDKClock decides without "now" under the Extism Go SDK with the system
// clock enabled, as docs/embedding.md recommends for Extism hosts.
func TestDecide_ExtismSDKClock(t *testing.T) {
	f, bundle := loadCases(t)
	rc, out, err := newExtismPlugin(t, bundle).Call("decide", expiredTokenInput(f))
	if err != nil || rc != 0 {
		t.Fatalf("code %d, error %v", rc, err)
	}
	assertExpired(t, out)
}
