package core

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Defaults of a [PolicySpec] field left empty.
const (
	DefaultBasePath = "/rest/api/v1"
	DefaultRealm    = "glean"
)

// Endpoint is one method and path pattern below the base path, with the scope it needs.
type Endpoint struct {
	// Method is an upper-case HTTP method such as "POST".
	Method string `json:"method"`
	// Path is a pattern below the base path, such as "/people/{person_id}/photo", where
	// "{name}" matches exactly one non-empty segment.
	Path string `json:"path"`
	// Scope opens the endpoint. It may be zero only for a public endpoint.
	Scope Scope `json:"scope,omitempty"`
	// Anonymous allows ANONYMOUS tokens on the endpoint.
	Anonymous bool `json:"anonymous,omitempty"`
	// Public lets requests through without any token.
	Public bool `json:"public,omitempty"`
}

// String returns "METHOD /path".
func (e Endpoint) String() string { return e.Method + " " + e.Path }

// PolicySpec is the uncompiled policy, as a YAML loader or a bundle produces it.
type PolicySpec struct {
	// BasePath prefixes every endpoint path; DefaultBasePath when empty.
	BasePath string `json:"base_path"`
	// Realm goes into WWW-Authenticate challenges; DefaultRealm when empty.
	Realm string `json:"realm"`
	// AllowCORSPreflight lets CORS preflights through without a token.
	AllowCORSPreflight bool `json:"allow_cors_preflight"`
	// ClockSkew moves every expiry instant later by this much; zero by default.
	ClockSkew time.Duration `json:"-"`
	// StripCredential removes the Authorization field before the request goes upstream.
	StripCredential bool `json:"strip_credential"`
	// Endpoints lists every mapped endpoint.
	Endpoints []Endpoint `json:"endpoints"`
}

// policySpecJSON carries ClockSkew as a Go duration string such as "30s".
type policySpecJSON struct {
	BasePath           string     `json:"base_path"`
	Realm              string     `json:"realm"`
	AllowCORSPreflight bool       `json:"allow_cors_preflight"`
	ClockSkew          string     `json:"clock_skew,omitempty"`
	StripCredential    bool       `json:"strip_credential"`
	Endpoints          []Endpoint `json:"endpoints"`
}

// MarshalJSON encodes the spec with the clock skew as a duration string.
func (p PolicySpec) MarshalJSON() ([]byte, error) {
	v := policySpecJSON{
		BasePath:           p.BasePath,
		Realm:              p.Realm,
		AllowCORSPreflight: p.AllowCORSPreflight,
		StripCredential:    p.StripCredential,
		Endpoints:          p.Endpoints,
	}
	if v.Endpoints == nil {
		v.Endpoints = []Endpoint{}
	}
	if p.ClockSkew != 0 {
		v.ClockSkew = p.ClockSkew.String()
	}
	return json.Marshal(v)
}

// UnmarshalJSON decodes the spec, rejecting unknown fields.
func (p *PolicySpec) UnmarshalJSON(data []byte) error {
	var v policySpecJSON
	if err := decodeStrict(data, &v); err != nil {
		return err
	}
	var skew time.Duration
	if v.ClockSkew != "" {
		d, err := time.ParseDuration(v.ClockSkew)
		if err != nil {
			return fmt.Errorf("clock_skew: %w", err)
		}
		skew = d
	}
	*p = PolicySpec{
		BasePath:           v.BasePath,
		Realm:              v.Realm,
		AllowCORSPreflight: v.AllowCORSPreflight,
		ClockSkew:          skew,
		StripCredential:    v.StripCredential,
		Endpoints:          v.Endpoints,
	}
	return nil
}

// Policy is a validated, immutable policy with its endpoint matcher built. Build one with
// [NewPolicy].
type Policy struct {
	spec    PolicySpec
	exact   map[string][]int32 // path below the base -> endpoint indexes
	pattern []patternRoute     // endpoints with "{name}" segments
}

type patternRoute struct {
	segments []string // "" marks a parameter segment
	index    int32
}

// NewPolicy validates the spec, fills in defaults and builds the endpoint matcher. It rejects
// an invalid base path or realm, a malformed method or path pattern, a missing or unknown scope,
// a duplicate endpoint, an endpoint that is both public and scoped, and a negative clock skew.
func NewPolicy(spec PolicySpec) (*Policy, error) {
	if spec.BasePath == "" {
		spec.BasePath = DefaultBasePath
	}
	if spec.Realm == "" {
		spec.Realm = DefaultRealm
	}
	if err := checkBasePath(spec.BasePath); err != nil {
		return nil, err
	}
	if !isRealm(spec.Realm) {
		return nil, fmt.Errorf("realm %q: use printable ASCII without quotes or backslashes", spec.Realm)
	}
	if spec.ClockSkew < 0 {
		return nil, fmt.Errorf("clock skew %s is negative: use zero or a positive duration", spec.ClockSkew)
	}
	spec.Endpoints = append([]Endpoint(nil), spec.Endpoints...)
	p := &Policy{spec: spec, exact: make(map[string][]int32)}
	seen := make(map[string]int, len(spec.Endpoints))
	for i, e := range spec.Endpoints {
		if err := checkEndpoint(e); err != nil {
			return nil, err
		}
		key := e.Method + " " + normalizePattern(e.Path)
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("endpoint %s is listed twice (as %s and %s)", e, spec.Endpoints[j], e)
		}
		seen[key] = i
		if strings.Contains(e.Path, "{") {
			p.pattern = append(p.pattern, patternRoute{segments: patternSegments(e.Path), index: int32(i)})
		} else {
			p.exact[e.Path] = append(p.exact[e.Path], int32(i))
		}
	}
	return p, nil
}

// Spec returns a copy of the policy's spec with defaults filled in.
func (p *Policy) Spec() PolicySpec {
	s := p.spec
	s.Endpoints = append([]Endpoint(nil), p.spec.Endpoints...)
	return s
}

// Realm returns the realm of WWW-Authenticate challenges.
func (p *Policy) Realm() string { return p.spec.Realm }

// StripCredential reports whether the Authorization field is removed before upstream.
func (p *Policy) StripCredential() bool { return p.spec.StripCredential }

// Endpoints returns the number of mapped endpoints.
func (p *Policy) Endpoints() int { return len(p.spec.Endpoints) }

// Match returns the endpoint for a method and a path without query, or false when none
// matches. Matching is exact and case-sensitive; "{name}" matches one non-empty segment.
func (p *Policy) Match(method, path string) (Endpoint, bool) {
	e := p.match(method, path)
	if e == nil {
		return Endpoint{}, false
	}
	return *e, true
}

func (p *Policy) match(method, path string) *Endpoint {
	base := p.spec.BasePath
	if len(path) <= len(base) || path[:len(base)] != base || path[len(base)] != '/' {
		return nil
	}
	rel := path[len(base):]
	for _, i := range p.exact[rel] {
		if p.spec.Endpoints[i].Method == method {
			return &p.spec.Endpoints[i]
		}
	}
	for _, r := range p.pattern {
		e := &p.spec.Endpoints[r.index]
		if e.Method == method && matchSegments(r.segments, rel) {
			return e
		}
	}
	return nil
}

// matchSegments matches rel ("/a/b") against pattern segments, where "" is a parameter.
func matchSegments(segments []string, rel string) bool {
	rest := rel
	for _, want := range segments {
		if len(rest) == 0 || rest[0] != '/' {
			return false
		}
		rest = rest[1:]
		end := strings.IndexByte(rest, '/')
		if end < 0 {
			end = len(rest)
		}
		seg := rest[:end]
		if want == "" {
			if seg == "" {
				return false
			}
		} else if seg != want {
			return false
		}
		rest = rest[end:]
	}
	return rest == ""
}

func patternSegments(path string) []string {
	parts := strings.Split(path[1:], "/")
	for i, s := range parts {
		if strings.HasPrefix(s, "{") {
			parts[i] = ""
		}
	}
	return parts
}

// normalizePattern replaces parameter names with "{}" so that two patterns that differ only in
// parameter names count as duplicates.
func normalizePattern(path string) string {
	parts := strings.Split(path, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, "{") {
			parts[i] = "{}"
		}
	}
	return strings.Join(parts, "/")
}

func checkBasePath(base string) error {
	if base == "/" {
		return fmt.Errorf("base path %q: use a path such as %s, or leave it empty for the default", base, DefaultBasePath)
	}
	if !CheckPath(base) || strings.HasSuffix(base, "/") || strings.ContainsAny(base, "?%{}") {
		return fmt.Errorf("base path %q: want an absolute path such as %s without a trailing slash, query or escapes", base, DefaultBasePath)
	}
	return nil
}

func checkEndpoint(e Endpoint) error {
	if !isMethod(e.Method) {
		return fmt.Errorf("endpoint %s: method %q: want an upper-case HTTP method such as POST", e, e.Method)
	}
	if err := checkPattern(e.Path); err != nil {
		return fmt.Errorf("endpoint %s: %w", e, err)
	}
	switch {
	case e.Public && e.Scope != 0:
		return fmt.Errorf("endpoint %s is both public and under scope %s: a public endpoint needs no scope", e, e.Scope)
	case e.Public && e.Anonymous:
		return fmt.Errorf("endpoint %s is both public and anonymous: a public endpoint needs no token at all", e)
	case !e.Public && !e.Scope.Valid():
		return fmt.Errorf("endpoint %s has no valid scope", e)
	}
	return nil
}

// checkPattern validates a path pattern: absolute, canonical by [CheckPath], no trailing
// slash, and "{name}" only as a whole segment with a name of letters, digits and '_'.
func checkPattern(path string) error {
	if !CheckPath(path) || path == "/" || strings.HasSuffix(path, "/") || strings.ContainsAny(path, "?%") {
		return fmt.Errorf("path pattern %q: want an absolute path such as /search, without a trailing slash, query, escapes or dot segments", path)
	}
	for _, seg := range strings.Split(path[1:], "/") {
		if !strings.ContainsAny(seg, "{}") {
			continue
		}
		if len(seg) < 3 || seg[0] != '{' || seg[len(seg)-1] != '}' || !isParamName(seg[1:len(seg)-1]) {
			return fmt.Errorf("path pattern %q: segment %q: a parameter is a whole segment {name} with a name of letters, digits and _", path, seg)
		}
	}
	return nil
}

func isParamName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

func isMethod(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func isRealm(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E || s[i] == '"' || s[i] == '\\' {
			return false
		}
	}
	return s != ""
}
