package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tokengate/tokengate/core"
)

// forwardKey is the context key of the forward details that serveProxy hands to rewrite.
type forwardKey struct{}

// forward carries the decision details that rewrite needs to build the upstream request.
type forward struct {
	decision core.Decision
	strip    bool
	shadow   bool
}

// serveProxy decides a request and either writes the denial or forwards the request upstream.
func (g *Gateway) serveProxy(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	v := g.acquire()
	defer v.release()

	d, err := g.decide(r.Context(), v, coreRequest(r.Method, r.RequestURI, r, nil))
	if err != nil {
		g.logEngineError(r, err, r.Method, r.RequestURI)
		writeEngineError(rec)
		g.logRequest(r, "proxy", r.Method, r.RequestURI, rec.status, engineErrorReason, "", start)
		return
	}
	shadow := g.cfg.Shadow && isOriginForm(r.RequestURI)
	if !d.Allow && !shadow {
		writeDenial(rec, d, v.realm())
		g.logRequest(r, "proxy", r.Method, r.RequestURI, rec.status, d.Reason.String(), d.TokenID, start)
		return
	}
	fw := &forward{decision: d, shadow: g.cfg.Shadow, strip: v != nil && v.policy.StripCredential()}
	g.proxy.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), forwardKey{}, fw)))
	g.logRequest(r, "proxy", r.Method, r.RequestURI, rec.status, d.Reason.String(), d.TokenID, start)
}

// isOriginForm reports whether a request target is a path with optional query, the only form
// that can be forwarded byte for byte. Absolute-form, authority-form and "*" are not.
func isOriginForm(target string) bool { return strings.HasPrefix(target, "/") }

// rewrite builds the upstream request: the raw request target on the upstream base URL,
// reserved headers removed, identity headers added.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	fw, _ := pr.In.Context().Value(forwardKey{}).(*forward)
	if fw == nil {
		// Only serveProxy calls the proxy, so this is a programming error. Failing the
		// request keeps it from going upstream undecided.
		panic(http.ErrAbortHandler)
	}
	out := pr.Out
	setRawTarget(out.URL, g.upstream, pr.In.RequestURI)
	// Send the upstream's own host name, as a client of it would, and keep the client's in
	// X-Forwarded-Host.
	out.Host = ""
	if prior := pr.In.Header["X-Forwarded-For"]; len(prior) > 0 {
		out.Header["X-Forwarded-For"] = prior
	}
	pr.SetXForwarded()

	for name := range out.Header {
		if core.IsReservedHeader(name) {
			delete(out.Header, name)
		}
	}
	// The proxy drops every field that the client names in Connection as hop-by-hop. The
	// credential and the act-as fields took part in the decision, so they go upstream as
	// received whatever the Connection field lists.
	for _, name := range decisionFields {
		if values := pr.In.Header.Values(name); len(values) > 0 && len(out.Header.Values(name)) == 0 {
			out.Header[http.CanonicalHeaderKey(name)] = slices.Clone(values)
		}
	}
	if fw.strip {
		out.Header.Del("Authorization")
	}
	for _, h := range fw.decision.IdentityHeaders() {
		out.Header.Set(h.Name, h.Value)
	}
	if fw.shadow {
		out.Header.Set(core.HeaderShadowReason, fw.decision.Reason.String())
	}
}

// decisionFields are the request fields that the decision reads and that go upstream.
var decisionFields = []string{core.HeaderAuthorization, core.HeaderScioActAs, core.HeaderGleanActAs}

// setRawTarget points u at the upstream with the request target appended to the upstream's
// base path exactly as received. URL.Opaque makes net/http write the path without decoding or
// re-encoding it.
func setRawTarget(u, upstream *url.URL, target string) {
	rawPath, rawQuery, hasQuery := strings.Cut(target, "?")
	path := upstream.EscapedPath() + rawPath
	*u = url.URL{Scheme: upstream.Scheme, Host: upstream.Host, RawQuery: rawQuery}
	u.ForceQuery = hasQuery && rawQuery == ""
	if strings.HasPrefix(path, "//") {
		// net/http reads an Opaque of "//..." as scheme-relative, so a path that starts
		// with an empty segment (only forwarded in shadow mode) goes out in absolute form,
		// which keeps the path intact.
		u.Opaque = "//" + upstream.Host + path
		return
	}
	u.Opaque = path
}

// upstreamError responds 502 when the upstream cannot be reached. The body names no request
// data, and the log names the upstream host and the failure, not the URL with its query.
func (g *Gateway) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if r.Context().Err() != nil {
		g.log.Debug("client closed the request before the upstream answered", "method", logValue(r.Method, r.Header),
			"path", logValue(requestPath(r.RequestURI), r.Header))
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	g.metrics.upstreamErrors.Inc()
	g.log.Error("upstream request failed; responding 502", "upstream", g.upstream.Host, "error", err,
		"method", logValue(r.Method, r.Header), "path", logValue(requestPath(r.RequestURI), r.Header))
	writeJSON(w, http.StatusBadGateway, errorBody{
		Error:   "bad_gateway",
		Reason:  "upstream_unavailable",
		Message: "the upstream service did not answer; try again later",
	})
}

// coreRequest builds the request that the engine decides: the method, the raw request target,
// and every header field as received, with Host first. Fields whose names skip reports are
// left out.
func coreRequest(method, target string, r *http.Request, skip func(name string) bool) core.Request {
	headers := make([]core.Header, 0, len(r.Header)+1)
	if r.Host != "" {
		headers = append(headers, core.Header{Name: "Host", Value: r.Host})
	}
	for name, values := range r.Header {
		if skip != nil && skip(name) {
			continue
		}
		for _, v := range values {
			headers = append(headers, core.Header{Name: name, Value: v})
		}
	}
	return core.Request{Method: method, Path: target, Headers: headers}
}

// requestPath returns a request target without its query, for logs: a query may carry
// data that does not belong in a log.
func requestPath(target string) string {
	path, _, _ := strings.Cut(target, "?")
	return path
}

// statusRecorder remembers the status code written through it, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and Hijack of the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
