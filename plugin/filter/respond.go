package filter

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/tokengate/tokengate/core"
)

// Header names of a local reply.
const (
	headerContentType     = "Content-Type"
	headerCacheControl    = "Cache-Control"
	headerWWWAuthenticate = "WWW-Authenticate"
)

// forward lets the request go upstream: it removes the reserved headers (and Authorization
// when the settings strip it), then sets the identity headers of an ok decision and, in shadow
// mode, X-Tokengate-Shadow-Reason.
func (h *httpContext) forward(pairs [][2]string, d core.Decision) types.Action {
	if err := h.rewriteHeaders(pairs, d); err != nil {
		return h.hostFailure("rewrite the request headers", err)
	}
	return types.ActionContinue
}

func (h *httpContext) rewriteHeaders(pairs [][2]string, d core.Decision) error {
	// Remove once per occurrence: Envoy's remove drops every field of the name, but the SDK's
	// emulator drops one per call, and a removal that leaves a forged field behind must not
	// depend on the host.
	for _, kv := range pairs {
		name := kv[0]
		if !core.IsReservedHeader(name) && !(h.settings.strip && strings.EqualFold(name, core.HeaderAuthorization)) {
			continue
		}
		if err := h.host.removeRequestHeader(name); err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	// Replace rather than add, so each identity header ends up with exactly one field.
	for _, id := range d.IdentityHeaders() {
		if err := h.host.replaceRequestHeader(id.Name, id.Value); err != nil {
			return fmt.Errorf("set %s: %w", id.Name, err)
		}
	}
	if h.settings.shadow {
		if err := h.host.replaceRequestHeader(core.HeaderShadowReason, d.Reason.String()); err != nil {
			return fmt.Errorf("set %s: %w", core.HeaderShadowReason, err)
		}
	}
	return nil
}

// reply sends the local reply of a denial (its status, JSON body and challenge) and pauses
// the request so it never goes upstream.
func (h *httpContext) reply(d core.Decision) types.Action {
	headers := [][2]string{
		{headerContentType, "application/json"},
		{headerCacheControl, "no-store"},
	}
	if challenge := d.Challenge(h.realm()); challenge != "" {
		headers = append(headers, [2]string{headerWWWAuthenticate, challenge})
	}
	if err := h.host.sendLocalReply(uint32(d.Status), headers, d.DenyBody()); err != nil {
		h.metrics.increment(h.metrics.hostCallFailures)
		h.logError(fmt.Sprintf("tokengate: send the %d %s reply: %v; the request stays paused and is not forwarded", d.Status, d.Reason, err))
	}
	return types.ActionPause
}

func (h *httpContext) realm() string {
	if h.settings == nil {
		return core.DefaultRealm
	}
	return h.settings.realm
}

// notConfigured sends the 503 not_configured reply. It reads the headers only to log the
// method and path, and logs without them when that read fails.
func (h *httpContext) notConfigured() types.Action {
	d := core.NotConfigured()
	h.metrics.decision(d.Reason)
	var req core.Request
	if pairs, err := h.host.requestHeaders(); err == nil {
		req = buildRequest(pairs)
	}
	h.logInfo(newDenial(d, req, false).String())
	return h.reply(d)
}

// hostFailure sends a 503 reply after a host call failed while deciding. The reply carries
// reason not_configured because the model has no other 503 reason.
func (h *httpContext) hostFailure(step string, err error) types.Action {
	h.metrics.increment(h.metrics.hostCallFailures)
	h.logError(fmt.Sprintf("tokengate: %s: %v; sending a 503 reply and not forwarding the request", step, err))
	return h.reply(core.NotConfigured())
}

// internalError sends a 503 reply after a panic in the filter. Only runtime errors are
// described in the log, because their messages hold no request data.
func (h *httpContext) internalError(r any) types.Action {
	h.metrics.increment(h.metrics.hostCallFailures)
	detail := "a panic"
	if e, ok := r.(runtime.Error); ok {
		detail = e.Error()
	}
	h.logError(fmt.Sprintf("tokengate: internal error while deciding (%s); sending a 503 reply and not forwarding the request", detail))
	return h.reply(core.NotConfigured())
}
