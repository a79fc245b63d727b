package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tokengate/tokengate/core"
)

// The header fields in which a proxy passes the original request to the authz endpoint.
// nginx sets none by itself, so the shipped nginx.conf sets the X-Original pair; Caddy's
// forward_auth sends the X-Forwarded pair.
const (
	HeaderOriginalMethod  = "X-Original-Method"
	HeaderOriginalURI     = "X-Original-Uri"
	HeaderForwardedMethod = "X-Forwarded-Method"
	HeaderForwardedURI    = "X-Forwarded-Uri"
)

// authzInvalidReason is the reason returned when an authz request does not name the original
// request clearly. It means the proxy is misconfigured, not that the client sent a bad token.
const authzInvalidReason = "authz_request_invalid"

// isAuthzProxyHeader reports whether a field is one of the four that carry the original
// request, which are left out of the request that the engine decides. name is in the
// canonical form of net/http.
func isAuthzProxyHeader(name string) bool {
	switch name {
	case HeaderOriginalMethod, HeaderOriginalURI, HeaderForwardedMethod, HeaderForwardedURI:
		return true
	}
	return false
}

// serveAuthz decides the original request that a proxy names. It responds 200 with the
// identity headers for the proxy to copy upstream, or with the denial itself.
func (g *Gateway) serveAuthz(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	method, target, err := originalRequest(r.Header)
	if err != nil {
		g.log.Warn("invalid authz request; check the proxy configuration", "error", err)
		writeJSON(rec, http.StatusBadRequest, errorBody{Error: core.ErrorInvalidRequest, Reason: authzInvalidReason, Message: err.Error()})
		g.logRequest(r, "authz", r.Method, r.RequestURI, rec.status, authzInvalidReason, "", start)
		return
	}
	v := g.acquire()
	defer v.release()

	d, err := g.decide(r.Context(), v, coreRequest(method, target, r, isAuthzProxyHeader))
	if err != nil {
		g.logEngineError(r, err, method, target)
		writeEngineError(rec)
		g.logRequest(r, "authz", method, target, rec.status, engineErrorReason, "", start)
		return
	}
	if !d.Allow && !g.cfg.Shadow {
		writeDenial(rec, d, v.realm())
		g.logRequest(r, "authz", method, target, rec.status, d.Reason.String(), d.TokenID, start)
		return
	}
	h := rec.Header()
	h.Set("Cache-Control", "no-store")
	for _, id := range d.IdentityHeaders() {
		h.Set(id.Name, id.Value)
	}
	if g.cfg.Shadow {
		h.Set(core.HeaderShadowReason, d.Reason.String())
	}
	rec.WriteHeader(http.StatusOK)
	g.logRequest(r, "authz", method, target, rec.status, d.Reason.String(), d.TokenID, start)
}

// originalRequest returns the method and request target that the proxy names. It takes the
// X-Original pair when present and the X-Forwarded pair otherwise. It rejects a pair with a
// missing or repeated field, and both pairs present with different values: a client could
// otherwise send one pair itself to have a different request decided than the one the proxy
// forwards.
func originalRequest(h http.Header) (method, target string, err error) {
	origMethod, origURI := h.Values(HeaderOriginalMethod), h.Values(HeaderOriginalURI)
	fwdMethod, fwdURI := h.Values(HeaderForwardedMethod), h.Values(HeaderForwardedURI)
	switch {
	case len(origMethod) > 0 || len(origURI) > 0:
		method, target, err = onePair(HeaderOriginalMethod, origMethod, HeaderOriginalURI, origURI)
		if err != nil {
			return "", "", err
		}
		if len(fwdMethod) > 0 || len(fwdURI) > 0 {
			m, t, err := onePair(HeaderForwardedMethod, fwdMethod, HeaderForwardedURI, fwdURI)
			if err != nil {
				return "", "", err
			}
			if m != method || t != target {
				return "", "", errors.New("X-Original-Method/X-Original-Uri and X-Forwarded-Method/X-Forwarded-Uri name different requests: have the proxy set one pair and remove the other")
			}
		}
		return method, target, nil
	case len(fwdMethod) > 0 || len(fwdURI) > 0:
		return onePair(HeaderForwardedMethod, fwdMethod, HeaderForwardedURI, fwdURI)
	}
	return "", "", errors.New("missing X-Original-Method and X-Original-Uri (or X-Forwarded-Method and X-Forwarded-Uri): configure the proxy to send the original method and URI")
}

// onePair returns the single values of a method field and a URI field.
func onePair(methodName string, methods []string, uriName string, uris []string) (string, string, error) {
	if len(methods) != 1 || methods[0] == "" {
		return "", "", fmt.Errorf("want exactly one non-empty %s field, got %d", methodName, len(methods))
	}
	if len(uris) != 1 || uris[0] == "" {
		return "", "", fmt.Errorf("want exactly one non-empty %s field, got %d", uriName, len(uris))
	}
	return methods[0], uris[0], nil
}
