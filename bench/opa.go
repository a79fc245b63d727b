package bench

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/tokengate/tokengate/core"
)

//go:embed opa.rego
var opaPolicy string

// PeerDecision is the outcome of a peer check: whether it allows the request and, for an
// allowed request, the user it acts as and the endpoint's scope.
type PeerDecision struct {
	Allow     bool
	Principal string
	Scope     string
}

// OPA evaluates opa.rego with OPA's Go API (github.com/open-policy-agent/opa v1, package
// v1/rego), prepared once against an in-memory store that contains the fixture's tokens.
type OPA struct {
	query rego.PreparedEvalQuery
}

// NewOPA compiles the Rego policy and loads the fixture's tokens and endpoints into an in-memory
// store. The store returns AST values on read, the fastest configuration inmem offers.
func NewOPA(ctx context.Context, f *Fixture) (*OPA, error) {
	store := inmem.NewFromObjectWithOpts(opaData(f),
		inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	query, err := rego.New(
		rego.Query("data.tokengate.decision"),
		rego.Module("opa.rego", opaPolicy),
		rego.Store(store),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("opa: prepare policy: %w", err)
	}
	return &OPA{query: query}, nil
}

// Decide builds the input document from req and now and evaluates the policy.
func (o *OPA) Decide(ctx context.Context, req core.Request, now time.Time) (PeerDecision, error) {
	rs, err := o.query.Eval(ctx, rego.EvalInput(opaInput(req, now)))
	if err != nil {
		return PeerDecision{}, fmt.Errorf("opa: eval: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return PeerDecision{}, fmt.Errorf("opa: eval returned %d results, expected 1", len(rs))
	}
	out, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return PeerDecision{}, fmt.Errorf("opa: decision is %T, expected an object", rs[0].Expressions[0].Value)
	}
	allow, _ := out["allow"].(bool)
	principal, _ := out["principal"].(string)
	scope, _ := out["scope"].(string)
	return PeerDecision{Allow: allow, Principal: principal, Scope: scope}, nil
}

// opaInput returns the input document: the method, the path, the header fields by lower-case
// name (as Envoy's ext_authz request presents them, but keeping repeated fields apart) and the
// instant in Unix nanoseconds.
func opaInput(req core.Request, now time.Time) map[string]any {
	headers := make(map[string]any, len(req.Headers))
	for _, h := range req.Headers {
		name := strings.ToLower(h.Name)
		values, _ := headers[name].([]any)
		headers[name] = append(values, h.Value)
	}
	return map[string]any{
		"method":  req.Method,
		"path":    req.Path,
		"headers": headers,
		"now_ns":  now.UnixNano(),
	}
}

// opaData returns the data document. Token instants are stored as Unix nanoseconds, so the
// policy compares numbers instead of parsing RFC 3339 strings on every request.
func opaData(f *Fixture) map[string]any {
	tokens := make(map[string]any, f.Store.Len())
	for _, t := range f.Store.Tokens() {
		record := map[string]any{
			"id":         t.ID,
			"permission": t.Permission.String(),
			"scopes":     stringsToAny(scopeStrings(t.Scopes)),
		}
		if t.User != "" {
			record["user"] = t.User
		}
		if !t.ExpiresAt.IsZero() {
			record["expires_at_ns"] = t.ExpiresAt.UnixNano()
		}
		if !t.RevokedAt.IsZero() {
			record["revoked_at_ns"] = t.RevokedAt.UnixNano()
		}
		if len(t.ActAsDomains) > 0 {
			record["actas_domains"] = stringsToAny(t.ActAsDomains)
		}
		tokens[t.Digest] = record
	}
	exact := map[string]any{}
	patterns := map[string]any{}
	spec := f.Policy.Spec()
	for _, e := range spec.Endpoints {
		route := map[string]any{"scope": e.Scope.String(), "anonymous": e.Anonymous}
		full := spec.BasePath + e.Path
		if !strings.Contains(e.Path, "{") {
			byPath, _ := exact[e.Method].(map[string]any)
			if byPath == nil {
				byPath = map[string]any{}
				exact[e.Method] = byPath
			}
			byPath[full] = route
			continue
		}
		route["glob"] = globPattern(full)
		list, _ := patterns[e.Method].([]any)
		patterns[e.Method] = append(list, route)
	}
	return map[string]any{"tokens": tokens, "exact": exact, "patterns": patterns}
}

// globPattern turns "/people/{id}/photo" into the glob "/people/*/photo".
func globPattern(path string) string {
	segments := strings.Split(path, "/")
	for i, s := range segments {
		if strings.HasPrefix(s, "{") {
			segments[i] = "*"
		}
	}
	return strings.Join(segments, "/")
}

func stringsToAny(values []string) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
}
