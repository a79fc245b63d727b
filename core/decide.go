package core

import "time"

// Header names read by the CORS preflight check.
const (
	HeaderOrigin                     = "Origin"
	HeaderAccessControlRequestMethod = "Access-Control-Request-Method"
)

// Validator decides requests against one policy and one store. It is immutable and safe for
// concurrent use.
type Validator struct {
	policy *Policy
	store  *Store
}

// NewValidator returns a validator for the policy and the store. Both must be non-nil.
func NewValidator(policy *Policy, store *Store) *Validator {
	return &Validator{policy: policy, store: store}
}

// Policy returns the validator's policy.
func (v *Validator) Policy() *Policy { return v.policy }

// Store returns the validator's store.
func (v *Validator) Store() *Store { return v.store }

// Decide runs the checks in order for a request at the instant now and returns the decision
// of the first check that fails, or ReasonOK. A nil validator returns [NotConfigured].
func (v *Validator) Decide(req Request, now time.Time) Decision {
	return v.decide(req, now, nil)
}

// decide is Decide that looks the credential up through cache when cache is not nil.
func (v *Validator) decide(req Request, now time.Time, cache *CredentialCache) Decision {
	if v == nil || v.policy == nil || v.store == nil {
		return NotConfigured()
	}
	p := v.policy

	// 1. Path.
	path := splitQuery(req.Path)
	if !CheckPath(path) {
		return newDecision(ReasonMalformedPath)
	}
	endpoint := p.match(req.Method, path)

	// 2. Unauthenticated passes.
	if p.spec.AllowCORSPreflight && isPreflight(req) {
		return newDecision(ReasonCORSPreflight)
	}
	if endpoint != nil && endpoint.Public {
		return newDecision(ReasonPublicEndpoint)
	}

	// 3 and 4. Credentials and token.
	token, reason := v.findToken(req.Headers, cache)
	if reason != ReasonOK {
		return newDecision(reason)
	}
	d := func(r Reason) Decision {
		out := newDecision(r)
		out.TokenID = token.ID
		out.Permission = token.Permission
		return out
	}
	if !token.RevokedAt.IsZero() && !token.RevokedAt.After(now) {
		return d(ReasonRevokedToken)
	}
	if !token.ExpiresAt.IsZero() && !token.ExpiresAt.Add(p.spec.ClockSkew).After(now) {
		return d(ReasonExpiredToken)
	}

	// 5. Act-as.
	act := readActAs(req.Headers)
	principal := ""
	switch {
	case act.ambiguous:
		return d(ReasonAmbiguousActAs)
	case token.Permission == PermissionGlobal:
		if act.value == "" {
			return d(ReasonActAsRequired)
		}
		if !IsBareAddress(act.value) {
			return d(ReasonActAsInvalid)
		}
		if len(token.ActAsDomains) > 0 && !domainAllowed(act.value, token.ActAsDomains) {
			return d(ReasonActAsDomainForbidden)
		}
		principal = asciiLower(act.value)
	case act.value != "":
		return d(ReasonActAsForbidden)
	case token.Permission == PermissionUser:
		principal = token.User
	}

	// 6. Endpoint and scope.
	if endpoint == nil {
		return d(ReasonEndpointUnmapped)
	}
	if token.Permission == PermissionAnonymous && !endpoint.Anonymous {
		return d(ReasonAnonymousNotAllowed)
	}
	if !token.Scopes.Has(endpoint.Scope) {
		out := d(ReasonScopeMissing)
		out.Scope = endpoint.Scope
		return out
	}
	out := d(ReasonOK)
	out.Principal = principal
	out.Scope = endpoint.Scope
	return out
}

// findToken reads the bearer credential of headers and returns its token, or the reason of
// the first check that rejects it: the credential syntax, the token format or the store
// lookup. A credential found in cache skips those three checks, because it passed them when
// it was added and they depend on the credential and the store alone.
func (v *Validator) findToken(headers []Header, cache *CredentialCache) (*Token, Reason) {
	credential, reason := bearerValue(headers)
	if reason != ReasonOK {
		return nil, reason
	}
	// The length bound keeps an oversized credential from being hashed for the cache.
	if len(credential) <= MaxCredentialLen {
		if t := cache.get(v, credential); t != nil {
			return t, ReasonOK
		}
	}
	// A well-formed prefixed token is token68, because base62 is a subset of its alphabet, so
	// the common case skips the token68 scan. Any other credential takes both checks in order.
	if len(credential) != TokenLen || CheckTokenFormat(credential) != nil {
		if reason := checkCredential(credential); reason != ReasonOK {
			return nil, reason
		}
		if len(credential) >= len(TokenPrefix) && credential[:len(TokenPrefix)] == TokenPrefix {
			return nil, ReasonMalformedToken
		}
	}
	t := v.store.lookup(credential)
	if t == nil {
		return nil, ReasonUnknownToken
	}
	cache.add(credential, t)
	return t, ReasonOK
}

// isPreflight reports whether the request is a CORS preflight: OPTIONS with non-empty Origin
// and Access-Control-Request-Method fields.
func isPreflight(req Request) bool {
	if req.Method != "OPTIONS" {
		return false
	}
	origin, method := false, false
	for i := range req.Headers {
		h := &req.Headers[i]
		if trimSpaceTab(h.Value) == "" {
			continue
		}
		switch {
		case equalFoldASCII(h.Name, HeaderOrigin):
			origin = true
		case equalFoldASCII(h.Name, HeaderAccessControlRequestMethod):
			method = true
		}
	}
	return origin && method
}

// domainAllowed reports whether the domain of a bare address is one of domains (lower case),
// compared without regard to case. Subdomains do not match.
func domainAllowed(address string, domains []string) bool {
	at := 0
	for i := 0; i < len(address); i++ {
		if address[i] == '@' {
			at = i
		}
	}
	domain := address[at+1:]
	for _, d := range domains {
		if equalFoldASCII(domain, d) {
			return true
		}
	}
	return false
}
