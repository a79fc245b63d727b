// Package policyfile reads the YAML policy file (scopes.yaml) into a compiled [core.Policy].
//
// The file lists, for each of the 14 scopes, a description and the endpoints it opens, plus
// the anonymous and public endpoint lists and the global options. Errors have the form
// "file:line: message" and name the offending value; only a missing scopes map and an empty
// file have no line to name. A file that fails any check yields no policy at all.
//
// [LoadStore] reads the other input of every engine, the JSON token store file, with the
// checks and messages that the commands and the gateway share.
package policyfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/tokengate/tokengate/core"
	"go.yaml.in/yaml/v3"
)

// FormatVersion is the policy file format version this package reads.
const FormatVersion = 1

// file is the top level of a policy file. Nodes keep line numbers for error messages.
type file struct {
	Version         yaml.Node   `yaml:"version"`
	BasePath        yaml.Node   `yaml:"base_path"`
	Realm           yaml.Node   `yaml:"realm"`
	CORSPreflight   *bool       `yaml:"cors_preflight"`
	ClockSkew       yaml.Node   `yaml:"clock_skew"`
	StripCredential bool        `yaml:"strip_credential"`
	Scopes          yaml.Node   `yaml:"scopes"`
	Anonymous       []yaml.Node `yaml:"anonymous"`
	Public          []yaml.Node `yaml:"public"`
}

// topLevelFields lists the fields of file, for the unknown-field message.
const topLevelFields = "version, base_path, realm, cors_preflight, clock_skew, strip_credential, scopes, anonymous, public"

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

// ParseSpec decodes and checks the policy file content without compiling it. The spec it
// returns compiles with [core.NewPolicy].
func ParseSpec(name string, data []byte) (core.PolicySpec, error) {
	f, err := decodeFile(name, data)
	if err != nil {
		return core.PolicySpec{}, err
	}
	p := &parser{name: name, index: map[string]int{}}
	if err := p.options(f); err != nil {
		return core.PolicySpec{}, err
	}
	if err := p.scopes(&f.Scopes); err != nil {
		return core.PolicySpec{}, err
	}
	if err := p.anonymous(f.Anonymous); err != nil {
		return core.PolicySpec{}, err
	}
	if err := p.public(f.Public); err != nil {
		return core.PolicySpec{}, err
	}
	return p.spec, nil
}

// decodeFile decodes the one YAML document of a policy file, rejecting unknown fields.
func decodeFile(name string, data []byte) (*file, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the policy file is empty: list at least one scope with its endpoints", name)
		}
		return nil, yamlError(name, err)
	}
	// A second document would be ignored silently, so a stray "---" could hide half the file.
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, fmt.Errorf("%s:%d: a second YAML document starts here: a policy file holds exactly one", name, extra.Line)
	case !errors.Is(err, io.EOF):
		return nil, yamlError(name, err)
	}
	return &f, nil
}

// yamlLine matches the line prefix of a go.yaml.in/yaml/v3 message ("yaml: line 3: ...").
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlUnknownField matches the yaml/v3 message for a field that file does not have.
var yamlUnknownField = regexp.MustCompile(`^field (\S+) not found in type policyfile\.file$`)

// yamlError rewrites a yaml/v3 error into the "file:line: message" form of this package's
// other errors.
func yamlError(name string, err error) error {
	var typeErr *yaml.TypeError
	if !errors.As(err, &typeErr) {
		return errors.New(relocate(name, err.Error()))
	}
	msgs := make([]string, len(typeErr.Errors))
	for i, m := range typeErr.Errors {
		msgs[i] = relocate(name, m)
	}
	return errors.New(strings.Join(msgs, "; "))
}

func relocate(name, msg string) string {
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return name + ": " + strings.TrimPrefix(msg, "yaml: ")
	}
	text := m[2]
	if f := yamlUnknownField.FindStringSubmatch(text); f != nil {
		text = fmt.Sprintf("unknown field %q: want one of %s", f[1], topLevelFields)
	}
	return fmt.Sprintf("%s:%s: %s", name, m[1], text)
}

// parser builds a spec from a decoded file and remembers where each endpoint was listed.
type parser struct {
	name  string
	spec  core.PolicySpec
	index map[string]int // endpointKey -> index into spec.Endpoints
	lines []int          // line of each entry of spec.Endpoints
}

// fail returns an error that names the file and the line.
func (p *parser) fail(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.name, line, fmt.Sprintf(format, args...))
}

// options reads the version and the global options.
func (p *parser) options(f *file) error {
	version, err := p.scalar(&f.Version, "version")
	if err != nil {
		return err
	}
	if version != "" && version != fmt.Sprint(FormatVersion) {
		return p.fail(f.Version.Line, "version %s is not supported: this build reads version %d", version, FormatVersion)
	}
	if p.spec.BasePath, err = p.scalar(&f.BasePath, "base_path"); err != nil {
		return err
	}
	if p.spec.Realm, err = p.scalar(&f.Realm, "realm"); err != nil {
		return err
	}
	// Compile the options alone to check base path and realm here, where the lines are known.
	if _, err := core.NewPolicy(core.PolicySpec{BasePath: p.spec.BasePath}); err != nil {
		return p.fail(f.BasePath.Line, "%v", err)
	}
	if _, err := core.NewPolicy(core.PolicySpec{Realm: p.spec.Realm}); err != nil {
		return p.fail(f.Realm.Line, "%v", err)
	}

	p.spec.AllowCORSPreflight = f.CORSPreflight == nil || *f.CORSPreflight
	p.spec.StripCredential = f.StripCredential

	skew, err := p.scalar(&f.ClockSkew, "clock_skew")
	if err != nil || skew == "" {
		return err
	}
	d, err := time.ParseDuration(skew)
	if err != nil || d < 0 {
		return p.fail(f.ClockSkew.Line, "clock_skew %q: want a non-negative Go duration such as 30s", skew)
	}
	p.spec.ClockSkew = d
	return nil
}

// scalar returns the value of an optional scalar field, or "" when it is absent or null.
func (p *parser) scalar(n *yaml.Node, field string) (string, error) {
	switch {
	case n.Kind == 0, n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return "", nil
	case n.Kind != yaml.ScalarNode:
		return "", p.fail(n.Line, "%s: want a single value, not a list or mapping", field)
	}
	return n.Value, nil
}

// scopes reads the scopes mapping: each scope name with its description and endpoints.
func (p *parser) scopes(n *yaml.Node) error {
	if n.Kind == 0 {
		return fmt.Errorf("%s: missing scopes: map each scope to its endpoints", p.name)
	}
	if n.Kind != yaml.MappingNode {
		return p.fail(n.Line, "scopes: want a mapping of scope names to {description, endpoints}")
	}
	seen := map[core.Scope]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		scope, err := core.ParseScope(key.Value)
		if err != nil {
			return p.fail(key.Line, "%v", err)
		}
		if first, dup := seen[scope]; dup {
			return p.fail(key.Line, "scope %s is listed twice (first on line %d): merge the two entries", scope, first)
		}
		seen[scope] = key.Line
		endpoints, err := p.scopeEntry(value)
		if err != nil {
			return err
		}
		for _, en := range endpoints {
			if err := p.addScoped(en, scope); err != nil {
				return err
			}
		}
	}
	return nil
}

// scopeEntry checks one scope entry, {description, endpoints}, and returns its endpoints.
func (p *parser) scopeEntry(value *yaml.Node) ([]*yaml.Node, error) {
	if value.Kind != yaml.MappingNode {
		return nil, p.fail(value.Line, "scope entry: want a mapping with description and endpoints")
	}
	var endpoints []*yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(value.Content); i += 2 {
		k, v := value.Content[i], value.Content[i+1]
		if first, dup := seen[k.Value]; dup {
			return nil, p.fail(k.Line, "field %q is listed twice in this scope entry (first on line %d)", k.Value, first)
		}
		seen[k.Value] = k.Line
		switch k.Value {
		case "description":
			if v.Kind != yaml.ScalarNode {
				return nil, p.fail(v.Line, "description: want one line of text")
			}
		case "endpoints":
			if v.Kind != yaml.SequenceNode {
				return nil, p.fail(v.Line, "endpoints: want a list of \"METHOD /path\" entries")
			}
			endpoints = v.Content
		default:
			return nil, p.fail(k.Line, "unknown field %q in scope entry: want description or endpoints", k.Value)
		}
	}
	return endpoints, nil
}

// addScoped adds an endpoint listed under scope.
func (p *parser) addScoped(n *yaml.Node, scope core.Scope) error {
	e, err := p.endpoint(n)
	if err != nil {
		return err
	}
	if j, dup := p.index[endpointKey(e)]; dup {
		prev := p.spec.Endpoints[j]
		if prev.Scope != scope {
			return p.fail(n.Line, "endpoint %s is under two scopes, %s (line %d) and %s: an endpoint needs exactly one scope", e, prev.Scope, p.lines[j], scope)
		}
		return p.fail(n.Line, "endpoint %s is listed twice under %s (first on line %d, as %s)", e, scope, p.lines[j], prev)
	}
	e.Scope = scope
	p.add(e, n.Line)
	return nil
}

// anonymous marks the listed endpoints as open to ANONYMOUS tokens.
func (p *parser) anonymous(nodes []yaml.Node) error {
	for i := range nodes {
		n := &nodes[i]
		e, err := p.endpoint(n)
		if err != nil {
			return err
		}
		j, ok := p.index[endpointKey(e)]
		if !ok {
			return p.fail(n.Line, "anonymous endpoint %s is not listed under any scope: add it to the scope that covers it", e)
		}
		if p.spec.Endpoints[j].Anonymous {
			return p.fail(n.Line, "anonymous endpoint %s is listed twice", e)
		}
		p.spec.Endpoints[j].Anonymous = true
	}
	return nil
}

// public adds the listed endpoints as public: requests pass without a token.
func (p *parser) public(nodes []yaml.Node) error {
	for i := range nodes {
		n := &nodes[i]
		e, err := p.endpoint(n)
		if err != nil {
			return err
		}
		if j, ok := p.index[endpointKey(e)]; ok {
			prev := p.spec.Endpoints[j]
			if prev.Public {
				return p.fail(n.Line, "public endpoint %s is listed twice (first on line %d)", e, p.lines[j])
			}
			return p.fail(n.Line, "public endpoint %s is also under scope %s (line %d): a public endpoint needs no token, so list it in one place only", e, prev.Scope, p.lines[j])
		}
		e.Public = true
		p.add(e, n.Line)
	}
	return nil
}

func (p *parser) add(e core.Endpoint, line int) {
	p.index[endpointKey(e)] = len(p.spec.Endpoints)
	p.spec.Endpoints = append(p.spec.Endpoints, e)
	p.lines = append(p.lines, line)
}

// endpoint reads "METHOD /path" from a scalar node.
func (p *parser) endpoint(n *yaml.Node) (core.Endpoint, error) {
	if n.Kind != yaml.ScalarNode {
		return core.Endpoint{}, p.fail(n.Line, "endpoint: want a string \"METHOD /path\"")
	}
	method, path, ok := strings.Cut(strings.TrimSpace(n.Value), " ")
	path = strings.TrimSpace(path)
	if !ok || method == "" || path == "" {
		return core.Endpoint{}, p.fail(n.Line, "endpoint %q: want \"METHOD /path\", such as \"POST /search\"", n.Value)
	}
	e := core.Endpoint{Method: method, Path: path}
	// Compile the single endpoint to check its method and path pattern here, where the line
	// number is known. A public placeholder needs no scope.
	if _, err := core.NewPolicy(core.PolicySpec{Endpoints: []core.Endpoint{{Method: method, Path: path, Public: true}}}); err != nil {
		return core.Endpoint{}, p.fail(n.Line, "%v", err)
	}
	return e, nil
}

// endpointKey identifies an endpoint by method and path pattern, with parameter names
// dropped: "/people/{a}/photo" and "/people/{b}/photo" match the same requests.
func endpointKey(e core.Endpoint) string {
	segments := strings.Split(e.Path, "/")
	for i, s := range segments {
		if strings.HasPrefix(s, "{") {
			segments[i] = "{}"
		}
	}
	return e.Method + " " + strings.Join(segments, "/")
}
