package core

import (
	"encoding/json"
	"strings"
)

// Header names that tokengate sets on an allowed request going upstream. Any incoming field
// with the X-Tokengate- prefix is removed first, so clients cannot forge them.
const (
	HeaderTokenID      = "X-Tokengate-Token-Id"
	HeaderPermission   = "X-Tokengate-Permission"
	HeaderScope        = "X-Tokengate-Scope"
	HeaderUser         = "X-Tokengate-User"
	HeaderShadowReason = "X-Tokengate-Shadow-Reason"

	reservedPrefix = "x-tokengate-"
)

// Challenge returns the WWW-Authenticate value of a denial in the given realm, or "" when the
// decision carries none (allows, malformed_path, other 403s, 503). It follows RFC 6750,
// section 3, and never echoes request data.
func (d Decision) Challenge(realm string) string {
	base := `Bearer realm="` + realm + `"`
	switch {
	case d.Status == 401 && d.Error == ErrorInvalidToken:
		return base + `, error="invalid_token"`
	case d.Status == 401:
		return base
	case d.Status == 403 && d.Error == ErrorInsufficientScope:
		if d.Reason == ReasonScopeMissing && d.Scope.Valid() {
			return base + `, error="insufficient_scope", scope="` + d.Scope.String() + `"`
		}
		return base + `, error="insufficient_scope"`
	case d.Status == 400 && d.Reason != ReasonMalformedPath:
		return base + `, error="invalid_request"`
	}
	return ""
}

// denyBody is the JSON body of a denial.
type denyBody struct {
	Error   string `json:"error"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// DenyBody returns the JSON body of a denial: {"error", "reason", "message"}. The message is
// fixed per reason and contains no request data.
func (d Decision) DenyBody() []byte {
	body, _ := json.Marshal(denyBody{Error: d.Error, Reason: d.Reason.String(), Message: d.Reason.Message()})
	return append(body, '\n')
}

// IsReservedHeader reports whether an incoming header field must be removed before the request
// goes upstream: any name starting with X-Tokengate-, in any case, and any name that becomes
// such a name or an act-as name when its '_' characters are read as '-'. Some backends treat
// '_' and '-' in names alike, so those spellings could otherwise smuggle identity. Act-as
// names spelled with '-' are not reserved: they pass through.
func IsReservedHeader(name string) bool {
	if hasPrefixFold(name, reservedPrefix) {
		return true
	}
	if strings.IndexByte(name, '_') < 0 {
		return false
	}
	dashed := strings.ReplaceAll(name, "_", "-")
	return hasPrefixFold(dashed, reservedPrefix) ||
		equalFoldASCII(dashed, HeaderScioActAs) || equalFoldASCII(dashed, HeaderGleanActAs)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && equalFoldASCII(s[:len(prefix)], prefix)
}

// IdentityHeaders returns the fields added to an allowed request with ReasonOK: token id,
// permission, scope, and the user when the principal is not empty. Other decisions get none.
func (d Decision) IdentityHeaders() []Header {
	if d.Reason != ReasonOK {
		return nil
	}
	h := []Header{
		{HeaderTokenID, d.TokenID},
		{HeaderPermission, d.Permission.String()},
		{HeaderScope, d.Scope.String()},
	}
	if d.Principal != "" {
		h = append(h, Header{HeaderUser, d.Principal})
	}
	return h
}
