package core

import "fmt"

// Reason is the stable code of a decision. Its string form appears in decision JSON, in deny
// bodies, in metric labels and in log lines, so the names never change.
type Reason uint8

// The reason codes, in the order of the checks that produce them.
const (
	ReasonOK Reason = iota
	ReasonMalformedPath
	ReasonCORSPreflight
	ReasonPublicEndpoint
	ReasonMissingToken
	ReasonMultipleAuthorization
	ReasonUnsupportedScheme
	ReasonMalformedAuthorization
	ReasonMalformedToken
	ReasonUnknownToken
	ReasonRevokedToken
	ReasonExpiredToken
	ReasonAmbiguousActAs
	ReasonActAsRequired
	ReasonActAsInvalid
	ReasonActAsDomainForbidden
	ReasonActAsForbidden
	ReasonEndpointUnmapped
	ReasonAnonymousNotAllowed
	ReasonScopeMissing
	ReasonNotConfigured

	// NumReasons is the number of reason codes; codes run from 0 to NumReasons-1.
	NumReasons = int(ReasonNotConfigured) + 1
)

type reasonInfo struct {
	name    string
	status  int
	errCode string
	message string
}

// The RFC 6750 error codes carried by denials.
const (
	ErrorInvalidRequest    = "invalid_request"
	ErrorInvalidToken      = "invalid_token"
	ErrorUnauthorized      = "unauthorized"
	ErrorInsufficientScope = "insufficient_scope"
	ErrorForbidden         = "forbidden"
	ErrorUnavailable       = "unavailable"
)

var reasons = [NumReasons]reasonInfo{
	ReasonOK:                     {"ok", 200, "", "the request is allowed"},
	ReasonMalformedPath:          {"malformed_path", 400, ErrorInvalidRequest, "the request path is not in canonical form"},
	ReasonCORSPreflight:          {"cors_preflight", 200, "", "CORS preflight requests pass without a token"},
	ReasonPublicEndpoint:         {"public_endpoint", 200, "", "the endpoint is public"},
	ReasonMissingToken:           {"missing_token", 401, ErrorUnauthorized, "a bearer token is required"},
	ReasonMultipleAuthorization:  {"multiple_authorization", 400, ErrorInvalidRequest, "send exactly one Authorization header"},
	ReasonUnsupportedScheme:      {"unsupported_scheme", 401, ErrorUnauthorized, "the Authorization scheme must be Bearer"},
	ReasonMalformedAuthorization: {"malformed_authorization", 400, ErrorInvalidRequest, "the bearer credential is empty, too long or not token68"},
	ReasonMalformedToken:         {"malformed_token", 401, ErrorInvalidToken, "the token is not in a valid format"},
	ReasonUnknownToken:           {"unknown_token", 401, ErrorInvalidToken, "the token is not known"},
	ReasonRevokedToken:           {"revoked_token", 401, ErrorInvalidToken, "the token has been revoked"},
	ReasonExpiredToken:           {"expired_token", 401, ErrorInvalidToken, "the token has expired"},
	ReasonAmbiguousActAs:         {"ambiguous_actas", 400, ErrorInvalidRequest, "the act-as headers name different users"},
	ReasonActAsRequired:          {"actas_required", 400, ErrorInvalidRequest, "a GLOBAL token must name a user in X-Scio-ActAs or X-Glean-ActAs"},
	ReasonActAsInvalid:           {"actas_invalid", 400, ErrorInvalidRequest, "the act-as value must be a bare email address"},
	ReasonActAsDomainForbidden:   {"actas_domain_forbidden", 403, ErrorForbidden, "the token may not act as users of that domain"},
	ReasonActAsForbidden:         {"actas_forbidden", 403, ErrorForbidden, "only GLOBAL tokens may send an act-as header"},
	ReasonEndpointUnmapped:       {"endpoint_unmapped", 403, ErrorInsufficientScope, "no scope grants access to this endpoint"},
	ReasonAnonymousNotAllowed:    {"anonymous_not_allowed", 403, ErrorInsufficientScope, "the endpoint does not allow anonymous access"},
	ReasonScopeMissing:           {"scope_missing", 403, ErrorInsufficientScope, "the token lacks the scope this endpoint requires"},
	ReasonNotConfigured:          {"not_configured", 503, ErrorUnavailable, "the validator has no valid configuration"},
}

// String returns the reason code, such as "scope_missing".
func (r Reason) String() string {
	if int(r) >= NumReasons {
		return fmt.Sprintf("reason(%d)", uint8(r))
	}
	return reasons[r].name
}

// Valid reports whether r is a defined reason code.
func (r Reason) Valid() bool { return int(r) < NumReasons }

// Status returns the HTTP status of a decision with this reason.
func (r Reason) Status() int {
	if !r.Valid() {
		return 503
	}
	return reasons[r].status
}

// Allow reports whether a decision with this reason forwards the request.
func (r Reason) Allow() bool { return r.Status() == 200 }

// ErrorCode returns the RFC 6750 error code of a denial with this reason, or "" for an allow.
func (r Reason) ErrorCode() string {
	if !r.Valid() {
		return ErrorUnavailable
	}
	return reasons[r].errCode
}

// Message returns a short human-readable explanation. It never contains request data.
func (r Reason) Message() string {
	if !r.Valid() {
		return "invalid reason"
	}
	return reasons[r].message
}

// AllReasons returns every reason code in order.
func AllReasons() []Reason {
	all := make([]Reason, NumReasons)
	for i := range all {
		all[i] = Reason(i)
	}
	return all
}

// ParseReason returns the reason with the given code.
func ParseReason(code string) (Reason, error) {
	for i := range reasons {
		if reasons[i].name == code {
			return Reason(i), nil
		}
	}
	return 0, fmt.Errorf("unknown reason code %q", code)
}

// MarshalText encodes the reason as its code.
func (r Reason) MarshalText() ([]byte, error) {
	if !r.Valid() {
		return nil, fmt.Errorf("invalid reason %d", uint8(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText decodes a reason code.
func (r *Reason) UnmarshalText(text []byte) error {
	v, err := ParseReason(string(text))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
