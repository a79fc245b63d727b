// Package policyfile reads the YAML policy file (scopes.yaml) into a compiled [core.Policy].
//
// The file lists, for each of the 14 scopes, a description and the endpoints it opens, plus
// the anonymous and public endpoint lists and the global options. Every error names the file,
// the line and the offending value. A file that fails any check yields no policy at all.
package policyfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tokengate/tokengate/core"
	"go.yaml.in/yaml/v3"
)

// FormatVersion is the policy file format version this package reads.
const FormatVersion = 1

// file is the top level of a policy file. Nodes keep line numbers for error messages.
type file struct {
	Version         int         `yaml:"version"`
	BasePath        string      `yaml:"base_path"`
	Realm           string      `yaml:"realm"`
	CORSPreflight   *bool       `yaml:"cors_preflight"`
	ClockSkew       string      `yaml:"clock_skew"`
	StripCredential bool        `yaml:"strip_credential"`
	Scopes          yaml.Node   `yaml:"scopes"`
	Anonymous       []yaml.Node `yaml:"anonymous"`
	Public          []yaml.Node `yaml:"public"`
}

// Load reads and compiles the policy file at path.
func Load(path string) (*core.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return Parse(path, data)
}

// Parse compiles the policy file content; name is used in error messages.
func Parse(name string, data []byte) (*core.Policy, error) {
	spec, err := ParseSpec(name, data)
	if err != nil {
		return nil, err
	}
	p, err := core.NewPolicy(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// ParseSpec decodes and checks the policy file content without compiling it.
func ParseSpec(name string, data []byte) (core.PolicySpec, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return core.PolicySpec{}, fmt.Errorf("%s: the policy file is empty: list at least one scope with its endpoints", name)
		}
		return core.PolicySpec{}, fmt.Errorf("%s: %w", name, err)
	}
	fail := func(line int, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...))
	}
	if f.Version != 0 && f.Version != FormatVersion {
		return core.PolicySpec{}, fmt.Errorf("%s: version %d is not supported: this build reads version %d", name, f.Version, FormatVersion)
	}
	spec := core.PolicySpec{
		BasePath:           f.BasePath,
		Realm:              f.Realm,
		AllowCORSPreflight: f.CORSPreflight == nil || *f.CORSPreflight,
		StripCredential:    f.StripCredential,
	}
	if f.ClockSkew != "" {
		d, err := time.ParseDuration(f.ClockSkew)
		if err != nil || d < 0 {
			return core.PolicySpec{}, fmt.Errorf("%s: clock_skew %q: want a non-negative Go duration such as 30s", name, f.ClockSkew)
		}
		spec.ClockSkew = d
	}

	// Endpoints under scopes, remembering where each was first listed.
	where := map[string]int{} // "METHOD /path" -> index into spec.Endpoints
	lines := []int{}
	if f.Scopes.Kind == 0 {
		return core.PolicySpec{}, fmt.Errorf("%s: missing scopes: map each scope to its endpoints", name)
	}
	if f.Scopes.Kind != yaml.MappingNode {
		return core.PolicySpec{}, fail(f.Scopes.Line, "scopes: want a mapping of scope names to {description, endpoints}")
	}
	for i := 0; i+1 < len(f.Scopes.Content); i += 2 {
		key, value := f.Scopes.Content[i], f.Scopes.Content[i+1]
		scope, err := core.ParseScope(key.Value)
		if err != nil {
			return core.PolicySpec{}, fail(key.Line, "%v", err)
		}
		endpoints, err := scopeEndpoints(value, fail)
		if err != nil {
			return core.PolicySpec{}, err
		}
		for _, n := range endpoints {
			e, err := parseEndpoint(n, fail)
			if err != nil {
				return core.PolicySpec{}, err
			}
			k := e.Method + " " + e.Path
			if j, dup := where[k]; dup {
				prev := spec.Endpoints[j]
				if prev.Scope != scope {
					return core.PolicySpec{}, fail(n.Line, "endpoint %s is under two scopes, %s (line %d) and %s: an endpoint needs exactly one scope", k, prev.Scope, lines[j], scope)
				}
				return core.PolicySpec{}, fail(n.Line, "endpoint %s is listed twice under %s (first on line %d)", k, scope, lines[j])
			}
			e.Scope = scope
			where[k] = len(spec.Endpoints)
			spec.Endpoints = append(spec.Endpoints, e)
			lines = append(lines, n.Line)
		}
	}

	for _, n := range f.Anonymous {
		e, err := parseEndpoint(&n, fail)
		if err != nil {
			return core.PolicySpec{}, err
		}
		j, ok := where[e.Method+" "+e.Path]
		if !ok {
			return core.PolicySpec{}, fail(n.Line, "anonymous endpoint %s is not listed under any scope: add it to the scope that covers it", e)
		}
		if spec.Endpoints[j].Anonymous {
			return core.PolicySpec{}, fail(n.Line, "anonymous endpoint %s is listed twice", e)
		}
		spec.Endpoints[j].Anonymous = true
	}
	for _, n := range f.Public {
		e, err := parseEndpoint(&n, fail)
		if err != nil {
			return core.PolicySpec{}, err
		}
		if j, ok := where[e.Method+" "+e.Path]; ok {
			return core.PolicySpec{}, fail(n.Line, "public endpoint %s is also under scope %s (line %d): a public endpoint needs no token, so list it in one place only", e, spec.Endpoints[j].Scope, lines[j])
		}
		e.Public = true
		where[e.Method+" "+e.Path] = len(spec.Endpoints)
		spec.Endpoints = append(spec.Endpoints, e)
		lines = append(lines, n.Line)
	}
	return spec, nil
}

// scopeEndpoints checks one scope entry, {description, endpoints}, and returns its endpoints.
func scopeEndpoints(value *yaml.Node, fail func(int, string, ...any) error) ([]*yaml.Node, error) {
	if value.Kind != yaml.MappingNode {
		return nil, fail(value.Line, "scope entry: want a mapping with description and endpoints")
	}
	var endpoints []*yaml.Node
	for i := 0; i+1 < len(value.Content); i += 2 {
		k, v := value.Content[i], value.Content[i+1]
		switch k.Value {
		case "description":
			if v.Kind != yaml.ScalarNode {
				return nil, fail(v.Line, "description: want one line of text")
			}
		case "endpoints":
			if v.Kind != yaml.SequenceNode {
				return nil, fail(v.Line, "endpoints: want a list of \"METHOD /path\" entries")
			}
			endpoints = v.Content
		default:
			return nil, fail(k.Line, "unknown field %q in scope entry: want description or endpoints", k.Value)
		}
	}
	return endpoints, nil
}

// parseEndpoint reads "METHOD /path" from a scalar node.
func parseEndpoint(n *yaml.Node, fail func(int, string, ...any) error) (core.Endpoint, error) {
	if n.Kind != yaml.ScalarNode {
		return core.Endpoint{}, fail(n.Line, "endpoint: want a string \"METHOD /path\"")
	}
	method, path, ok := strings.Cut(strings.TrimSpace(n.Value), " ")
	path = strings.TrimSpace(path)
	if !ok || method == "" || path == "" {
		return core.Endpoint{}, fail(n.Line, "endpoint %q: want \"METHOD /path\", such as \"POST /search\"", n.Value)
	}
	e := core.Endpoint{Method: method, Path: path}
	// Compile the single endpoint to check its method and path pattern here, where the line
	// number is known. A public placeholder needs no scope.
	if _, err := core.NewPolicy(core.PolicySpec{Endpoints: []core.Endpoint{{Method: method, Path: path, Public: true}}}); err != nil {
		return core.Endpoint{}, fail(n.Line, "%v", err)
	}
	return e, nil
}
