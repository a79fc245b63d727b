package gateway

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tokengate/tokengate/core"
)

// engineErrorReason is the reason logged and returned when the engine fails to decide. It is
// the gateway's own code, beside the decision reason codes of the core.
const engineErrorReason = "engine_error"

// errorBody is the JSON body of a response that comes from the gateway rather than from a
// decision: an engine failure, an unreachable upstream, an invalid authz request.
type errorBody struct {
	Error   string `json:"error"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message"`
}

// writeDenial writes the response to a denial: its status, the decision's JSON body, and the challenge of
// the realm when the decision carries one.
func writeDenial(w http.ResponseWriter, d core.Decision, realm string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if c := d.Challenge(realm); c != "" {
		h.Set("WWW-Authenticate", c)
	}
	w.WriteHeader(d.Status)
	_, _ = w.Write(d.DenyBody())
}

// writeEngineError responds 503 to a request that the engine failed to decide.
func writeEngineError(w http.ResponseWriter) {
	writeJSON(w, http.StatusServiceUnavailable, errorBody{
		Error:   core.ErrorUnavailable,
		Reason:  engineErrorReason,
		Message: "the validator failed to decide the request; try again later",
	})
}

// writeJSON responds with status and v encoded as JSON, marked not to be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"internal","message":"failed to encode the response"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// logRequest writes the one log line of request r. It logs the path without the query and
// never a header value, and redacts r's credentials from the method and the path (see
// logValue), so no credential reaches the log.
func (g *Gateway) logRequest(r *http.Request, mode, method, target string, status int, reason, tokenID string, start time.Time) {
	attrs := []slog.Attr{
		slog.String("mode", mode),
		slog.String("method", logValue(method, r.Header)),
		slog.String("path", logValue(requestPath(target), r.Header)),
		slog.Int("status", status),
		slog.String("reason", reason),
		slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
	}
	if tokenID != "" {
		attrs = append(attrs, slog.String("token_id", tokenID))
	}
	if g.cfg.Shadow {
		attrs = append(attrs, slog.Bool("shadow", true))
	}
	g.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

const (
	// maxLoggedLen is the longest method or path written to a log line, in bytes.
	maxLoggedLen = 256
	// minRedactedLen is the shortest credential that logValue searches for. Replacing every
	// occurrence of a shorter string would mangle the path more than it protects.
	minRedactedLen = 8
)

// logValue returns a request's method or path for a log line: each Authorization value of h,
// and each run of token68 characters in it, replaced by "[redacted]", then the result cut to
// maxLoggedLen bytes. A client may send its secret in the path or as the method too, and
// splitting the value at every other byte finds the secret however the value is spelt.
func logValue(s string, h http.Header) string {
	for _, value := range h.Values(core.HeaderAuthorization) {
		value = strings.Trim(value, " \t")
		for _, secret := range append([]string{value}, strings.FieldsFunc(value, notToken68)...) {
			if len(secret) >= minRedactedLen {
				s = strings.ReplaceAll(s, secret, "[redacted]")
			}
		}
	}
	if len(s) > maxLoggedLen {
		s = s[:maxLoggedLen] + "[truncated]"
	}
	return s
}

// notToken68 reports whether r cannot appear in an RFC 7235 token68 credential.
func notToken68(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("-._~+/=", r)
}
