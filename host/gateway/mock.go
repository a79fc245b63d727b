package gateway

import (
	"net/http"
	"strings"

	"github.com/tokengate/tokengate/core"
)

// MockEcho is the JSON body of the mock upstream's response to a mapped endpoint. It repeats
// what the mock received, so a user or a test can see what the gateway forwarded.
type MockEcho struct {
	// Endpoint is the matched policy endpoint, such as "POST /search".
	Endpoint string `json:"endpoint"`
	// Method, Path and Query are the request line as received; Query is empty without one.
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query"`
	// Headers maps each received field name, in net/http canonical form, to its values.
	// Host is included. Authorization values keep their scheme and show the credential as
	// "[redacted]", so the echo never repeats a token.
	Headers map[string][]string `json:"headers"`
}

// NewMockUpstream returns a stand-in for the Client API. It responds to every endpoint that
// the policy from policy maps (and to a CORS preflight for one) with 200 and a [MockEcho], and
// to any other request with 404. policy is called per request, so a reload changes what the
// mock maps. While policy returns nil, every request gets 404.
func NewMockUpstream(policy func() *core.Policy) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, query, _ := strings.Cut(originFormTarget(r.RequestURI), "?")
		p := policy()
		method := r.Method
		if preflight := r.Header.Get(core.HeaderAccessControlRequestMethod); method == http.MethodOptions && preflight != "" {
			method = preflight
		}
		var endpoint core.Endpoint
		ok := false
		if p != nil {
			endpoint, ok = p.Match(method, path)
		}
		if !ok {
			writeJSON(w, http.StatusNotFound, errorBody{Error: "not_found", Message: "the mock upstream maps no endpoint for this method and path"})
			return
		}
		headers := make(map[string][]string, len(r.Header)+1)
		for name, values := range r.Header {
			headers[name] = values
		}
		if auth := r.Header.Values("Authorization"); len(auth) > 0 {
			headers["Authorization"] = redactCredentials(auth)
		}
		headers["Host"] = []string{r.Host}
		writeJSON(w, http.StatusOK, MockEcho{
			Endpoint: endpoint.String(),
			Method:   r.Method,
			Path:     path,
			Query:    query,
			Headers:  headers,
		})
	})
}

// originFormTarget returns the path and query of a request target, dropping the scheme and
// host of an absolute-form target such as "http://host//a".
func originFormTarget(target string) string {
	if strings.HasPrefix(target, "/") {
		return target
	}
	_, rest, ok := strings.Cut(target, "://")
	if !ok {
		return target
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

// redactCredentials replaces the credential after the scheme of each Authorization value.
func redactCredentials(values []string) []string {
	out := make([]string, len(values))
	for i, v := range values {
		scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		out[i] = scheme + " [redacted]"
	}
	return out
}
