package host_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/conformance"
	"github.com/tokengate/tokengate/host/policyfile"
)

// requestGenerator makes random requests from a seeded source: mostly well-formed requests
// for the policy's endpoints with the conformance file's tokens, mixed with the malformed
// paths, credentials and act-as values that each check of the decision model rejects.
type requestGenerator struct {
	rand      *rand.Rand
	file      *conformance.File
	endpoints []core.Endpoint
	basePath  string
	secrets   []string
}

func newRequestGenerator(t testing.TB, f *conformance.File, seed uint64) *requestGenerator {
	t.Helper()
	policy, err := policyfile.Load("../scopes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := policy.Spec()
	g := &requestGenerator{
		rand:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		file:      f,
		endpoints: spec.Endpoints,
		basePath:  spec.BasePath,
	}
	for _, s := range f.Secrets {
		g.secrets = append(g.secrets, s)
	}
	// Map order is random, so sort for a reproducible sequence.
	slicesSort(g.secrets)
	return g
}

func (g *requestGenerator) pick(options ...string) string { return options[g.rand.IntN(len(options))] }

// request returns a random request and instant.
func (g *requestGenerator) request() (core.Request, time.Time) {
	req := core.Request{Method: g.method(), Path: g.path()}
	for range g.rand.IntN(4) {
		req.Headers = append(req.Headers, core.Header{Name: g.pick("Accept", "User-Agent", "Content-Type", "X-Request-Id"), Value: g.noise()})
	}
	if g.rand.IntN(10) == 0 {
		req.Headers = append(req.Headers, core.Header{Name: g.pick("Origin", "origin"), Value: "https://app.example.com"},
			core.Header{Name: "Access-Control-Request-Method", Value: "POST"})
	}
	for range g.authorizationCount() {
		req.Headers = append(req.Headers, core.Header{Name: g.pick("Authorization", "authorization", "AUTHORIZATION"), Value: g.authorization()})
	}
	for range g.rand.IntN(3) {
		req.Headers = append(req.Headers, core.Header{Name: g.pick("X-Scio-ActAs", "X-Glean-ActAs", "x-glean-actas"), Value: g.actAs()})
	}
	g.rand.Shuffle(len(req.Headers), func(i, j int) { req.Headers[i], req.Headers[j] = req.Headers[j], req.Headers[i] })
	return req, g.instant()
}

func (g *requestGenerator) method() string {
	if g.rand.IntN(8) == 0 {
		return g.pick("GET", "PUT", "DELETE", "OPTIONS", "post", "PATCH")
	}
	return g.endpoints[g.rand.IntN(len(g.endpoints))].Method
}

func (g *requestGenerator) path() string {
	e := g.endpoints[g.rand.IntN(len(g.endpoints))]
	path := g.basePath + fillParams(e.Path, g.pick("p1", "abc-123", "x.y", "%41"))
	switch g.rand.IntN(12) {
	case 0:
		path += g.pick("?q=1", "?", "?a=%2F", "#frag")
	case 1:
		path += g.pick("/", "//", "/.", "/..")
	case 2:
		path = strings.Replace(path, "/", g.pick("//", "/./", "\\", "/%2f", "/%2E", "/%5C"), 2)
	case 3:
		path = g.pick("", "*", "rest/api/v1/search", "/rest/api/v2/search", "/REST/api/v1/search", "/rest/api/v1/search\x00", "/rest/api/v1/s\xc3\xa9arch")
	case 4:
		path = g.basePath + g.pick("/agents/run", "/documents", "/messages", "/tools/list", "/unknown")
	}
	return path
}

// fillParams replaces each {name} segment of a pattern with value.
func fillParams(pattern, value string) string {
	segments := strings.Split(pattern, "/")
	for i, s := range segments {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segments[i] = value
		}
	}
	return strings.Join(segments, "/")
}

func (g *requestGenerator) authorizationCount() int {
	switch g.rand.IntN(20) {
	case 0:
		return 0
	case 1:
		return 2
	}
	return 1
}

func (g *requestGenerator) authorization() string {
	secret := g.secrets[g.rand.IntN(len(g.secrets))]
	switch g.rand.IntN(14) {
	case 0:
		return ""
	case 1:
		return " \t "
	case 2:
		return g.pick("Basic ", "Token ", "bearer", "Bearer") + secret
	case 3:
		return "Bearer " + secret[:len(secret)-1] + g.pick("0", "z", "!")
	case 4:
		return "Bearer glean_" + strings.Repeat("A", g.rand.IntN(40))
	case 5:
		return "Bearer " + g.pick("imported-token-1", "abc==", "a=b", "tok en", strings.Repeat("x", 4097))
	case 6:
		return g.pick("bearer ", "BEARER ", "Bearer\t", "Bearer  ") + secret + g.pick("", " ", "\t")
	}
	return "Bearer " + secret
}

func (g *requestGenerator) actAs() string {
	return g.pick("", " ", "dana@example.com", "Dana@Example.COM", " dana@example.com\t", "bob@other.org",
		"dana@sub.example.com", "Dana <dana@example.com>", "dana@localhost", "@example.com", "a,b@example.com",
		"dana@exa_mple.com", strings.Repeat("a", 250)+"@example.com")
}

func (g *requestGenerator) noise() string {
	b := make([]byte, g.rand.IntN(24))
	for i := range b {
		b[i] = byte(0x20 + g.rand.IntN(0x5f))
	}
	return string(b)
}

// instant returns the file's instant or one near the expiry and revocation instants of its
// tokens, one second before, at or after them.
func (g *requestGenerator) instant() time.Time {
	if g.rand.IntN(3) != 0 {
		return g.file.Now
	}
	var instants []time.Time
	for _, t := range g.file.Tokens {
		for _, at := range []time.Time{t.ExpiresAt, t.RevokedAt} {
			if !at.IsZero() {
				instants = append(instants, at)
			}
		}
	}
	if len(instants) == 0 {
		return g.file.Now
	}
	at := instants[g.rand.IntN(len(instants))]
	return at.Add(time.Duration(g.rand.IntN(3)-1) * time.Second)
}
