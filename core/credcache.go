package core

import (
	"strings"
	"time"
)

// Default bounds of a [CredentialCache] made by [NewCredentialCache] with zero arguments.
const (
	DefaultCredentialCacheEntries = 4096
	DefaultCredentialCacheBytes   = 256 << 10
)

// CredentialCache maps bearer credentials that a [Validator] has already hashed and found in
// its store to their token, so that [Validator.DecideCached] skips the credential syntax check,
// the token format check and the SHA-256 of a credential it has seen before. Their results are
// fixed for one credential and one store, so a hit gives the same token as a fresh lookup.
// Revocation, expiry, act-as and scope are still checked on every call at that call's instant.
//
// The cache belongs to one validator at a time: a call with another validator (a new bundle)
// drops every entry first, so no entry outlives the bundle it was found in. Only credentials
// that the store holds are kept. A credential that is not found is hashed on every request,
// so guessing cannot evict the entries of real tokens or grow the cache.
//
// The cache keeps copies of credentials, which are token secrets, in the memory of the process
// that decides. That memory already holds every request's Authorization field while it is
// decided, and the store's digests, so the cache widens no boundary. It must never be
// serialised, logged or shared with another process. A lookup compares a guess byte by byte
// only with a stored credential of the same length whose map hash fingerprint matches under
// the map's random seed, so a guess cannot choose the credential it is compared with.
//
// A CredentialCache is not safe for concurrent use; give each goroutine (or wasm instance)
// its own.
type CredentialCache struct {
	validator  *Validator
	tokens     map[string]*Token
	bytes      int
	maxEntries int
	maxBytes   int
}

// NewCredentialCache returns an empty cache bounded to maxEntries credentials and maxBytes
// bytes of credentials. A bound of zero or less takes its default
// ([DefaultCredentialCacheEntries], [DefaultCredentialCacheBytes]). When adding a credential
// would cross a bound, the cache drops every entry first.
func NewCredentialCache(maxEntries, maxBytes int) *CredentialCache {
	if maxEntries <= 0 {
		maxEntries = DefaultCredentialCacheEntries
	}
	if maxBytes <= 0 {
		maxBytes = DefaultCredentialCacheBytes
	}
	return &CredentialCache{tokens: map[string]*Token{}, maxEntries: maxEntries, maxBytes: maxBytes}
}

// MaxEntries returns the bound on the number of cached credentials.
func (c *CredentialCache) MaxEntries() int { return c.maxEntries }

// Len returns the number of cached credentials.
func (c *CredentialCache) Len() int { return len(c.tokens) }

// Bytes returns the total length of the cached credentials.
func (c *CredentialCache) Bytes() int { return c.bytes }

// Reset drops every entry.
func (c *CredentialCache) Reset() {
	clear(c.tokens)
	c.bytes = 0
	c.validator = nil
}

// get returns the cached token of credential, or nil, for a lookup in v's store. It drops
// every entry first when the entries came from another validator. A nil cache holds nothing.
func (c *CredentialCache) get(v *Validator, credential string) *Token {
	if c == nil {
		return nil
	}
	if c.validator != v {
		c.Reset()
		c.validator = v
	}
	return c.tokens[credential]
}

// add caches t, found in the store of the validator of the last get, for credential. It drops
// every entry first when the new one would cross a bound. A nil cache ignores the call.
func (c *CredentialCache) add(credential string, t *Token) {
	if c == nil || len(credential) > c.maxBytes {
		return
	}
	if len(c.tokens)+1 > c.maxEntries || c.bytes+len(credential) > c.maxBytes {
		clear(c.tokens)
		c.bytes = 0
	}
	// The credential may alias a request buffer that the caller reuses, so the key is a copy.
	c.tokens[strings.Clone(credential)] = t
	c.bytes += len(credential)
}

// DecideCached is [Validator.Decide] with a credential cache, and returns the same decision for
// every request and instant. A nil cache means no cache.
func (v *Validator) DecideCached(req Request, now time.Time, c *CredentialCache) Decision {
	return v.decide(req, now, c)
}
