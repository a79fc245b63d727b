// Package conformance runs conformance files against an engine.
//
// A conformance file is JSON with a default instant, token records that carry their secret in
// place of the digest, and cases. Each case is a request and the decision fields it expects;
// a listed field must equal the decision's field, and fields not listed are not checked.
package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/engine"
)

// File is a parsed conformance file.
type File struct {
	// Path is where the file was read from.
	Path string
	// Now is the default instant of the cases.
	Now time.Time
	// Tokens are the store records, with digests computed from the secrets.
	Tokens []core.Token
	// Secrets maps token id to secret, for tests that need to send a token.
	Secrets map[string]string
	// Cases are the requests and their expectations, in file order.
	Cases []Case
}

// Case is one request and the decision fields it expects.
type Case struct {
	Name    string         `json:"name"`
	Method  string         `json:"method"`
	Path    string         `json:"path"`
	Headers []core.Header  `json:"headers"`
	Now     *time.Time     `json:"now,omitempty"`
	Expect  map[string]any `json:"expect"`
}

// Request returns the case's request.
func (c Case) Request() core.Request {
	return core.Request{Method: c.Method, Path: c.Path, Headers: c.Headers}
}

// Instant returns the case's instant: its own now, or the file's.
func (c Case) Instant(f *File) time.Time {
	if c.Now != nil {
		return *c.Now
	}
	return f.Now
}

type rawFile struct {
	Now    time.Time                    `json:"now"`
	Tokens []map[string]json.RawMessage `json:"tokens"`
	Cases  []Case                       `json:"cases"`
}

// expectFields lists the fields a case may expect.
var expectFields = []string{"allow", "status", "reason", "error", "token_id", "permission", "principal", "scope"}

// Load reads a conformance file.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read conformance file: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes a conformance file's content; path names it in errors.
func Parse(path string, data []byte) (*File, error) {
	var raw rawFile
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &File{Path: path, Now: raw.Now, Secrets: map[string]string{}, Cases: raw.Cases}
	for i, fields := range raw.Tokens {
		var secret string
		if err := json.Unmarshal(fields["secret"], &secret); err != nil || secret == "" {
			return nil, fmt.Errorf("%s: token %d: missing secret", path, i)
		}
		delete(fields, "secret")
		digest, _ := json.Marshal(core.Digest(secret))
		fields["digest"] = digest
		record, _ := json.Marshal(fields)
		var t core.Token
		if err := json.Unmarshal(record, &t); err != nil {
			return nil, fmt.Errorf("%s: token %d: %w", path, i, err)
		}
		f.Tokens = append(f.Tokens, t)
		f.Secrets[t.ID] = secret
	}
	for i, c := range f.Cases {
		for k := range c.Expect {
			if !slices.Contains(expectFields, k) {
				return nil, fmt.Errorf("%s: case %d (%s): unknown expected field %q", path, i, c.Name, k)
			}
		}
	}
	return f, nil
}

// Bundle returns the bundle of the policy and the file's tokens.
func (f *File) Bundle(policy *core.Policy) ([]byte, error) {
	store, err := core.NewStore(f.Tokens)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return core.EncodeBundle(policy, store)
}

// Mismatch is one expected field that differs from the decision.
type Mismatch struct {
	Field    string
	Expected any
	Actual   any
}

// Result is the outcome of one case.
type Result struct {
	Case       Case
	Decision   core.Decision
	Err        error
	Mismatches []Mismatch
}

// Passed reports whether the engine decided and every expected field matched.
func (r Result) Passed() bool { return r.Err == nil && len(r.Mismatches) == 0 }

// Compare returns the expected fields of c that differ from d.
func Compare(c Case, d core.Decision) []Mismatch {
	got := d.Fields()
	var out []Mismatch
	for _, k := range expectFields {
		want, ok := c.Expect[k]
		if !ok {
			continue
		}
		if !equalField(want, got[k]) {
			out = append(out, Mismatch{Field: k, Expected: want, Actual: got[k]})
		}
	}
	return out
}

// equalField compares a JSON-decoded expectation with a decision field.
func equalField(want, got any) bool {
	switch w := want.(type) {
	case float64:
		g, ok := got.(int)
		return ok && float64(g) == w
	case nil:
		return got == "" || got == false
	default:
		return want == got
	}
}

// Run decides every case of the file with e and compares the results.
func Run(ctx context.Context, e engine.Engine, f *File) []Result {
	results := make([]Result, 0, len(f.Cases))
	for _, c := range f.Cases {
		d, err := e.Decide(ctx, c.Request(), c.Instant(f))
		r := Result{Case: c, Decision: d, Err: err}
		if err == nil {
			r.Mismatches = Compare(c, d)
		}
		results = append(results, r)
	}
	return results
}
