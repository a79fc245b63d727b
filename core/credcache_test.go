package core

import (
	"testing"
	"time"
	"unsafe"
)

// searchRequest returns a search request that sends credential and no act-as address.
func searchRequest(credential string) Request {
	return Request{Method: "POST", Path: api("/search"), Headers: []Header{
		{HeaderAuthorization, "Bearer " + credential},
	}}
}

func TestDecideCached_ConformanceCases(t *testing.T) {
	file, store := readConformance(t)
	v := NewValidator(newDefaultPolicy(t), store)
	cache := NewCredentialCache(0, 0)
	// Three rounds: the first fills the cache, the later ones decide from it.
	for round := range 3 {
		for _, c := range file.Cases {
			now := file.Now
			if c.Now != nil {
				now = *c.Now
			}
			req := Request{Method: c.Method, Path: c.Path, Headers: c.Headers}
			if got, want := v.DecideCached(req, now, cache), v.Decide(req, now); got != want {
				t.Errorf("round %d, %s: cached %+v, want %+v", round, c.Name, got, want)
			}
		}
	}
	if cache.Len() == 0 {
		t.Error("no credential cached after the conformance cases")
	}
}

func TestDecideCached_RevokedAndExpired(t *testing.T) {
	f := newFixture(t, nil)
	v := f.validator
	cache := NewCredentialCache(0, 0)
	req := searchRequest(f.tokens[idEdge].secret)
	cases := []struct {
		name string
		now  time.Time
		want Reason
	}{
		{"active", fixtureNow, ReasonOK},
		{"expired at the instant", edgeExpiresAt, ReasonExpiredToken},
		{"revoked at the instant", edgeRevokedAt, ReasonRevokedToken},
		{"active again earlier", fixtureNow, ReasonOK},
	}
	for _, c := range cases {
		got := v.DecideCached(req, c.now, cache)
		if got.Reason != c.want {
			t.Errorf("%s: reason %s, want %s", c.name, got.Reason, c.want)
		}
		if want := v.Decide(req, c.now); got != want {
			t.Errorf("%s: cached %+v, want %+v", c.name, got, want)
		}
	}
	if cache.Len() != 1 {
		t.Errorf("cache holds %d credentials, want 1", cache.Len())
	}
}

func TestDecideCached_BundleSwap(t *testing.T) {
	f := newFixture(t, nil)
	secret := f.tokens[idUser].secret
	req := searchRequest(secret)
	cache := NewCredentialCache(0, 0)
	if d := f.validator.DecideCached(req, fixtureNow, cache); d.Reason != ReasonOK {
		t.Fatalf("first bundle: reason %s, want ok", d.Reason)
	}

	// The same secret, revoked in the next bundle.
	revoked := f.tokens[idUser].token
	revoked.RevokedAt = fixtureNow.Add(-time.Minute)
	next := newValidatorOf(t, revoked)
	if d := next.DecideCached(req, fixtureNow, cache); d.Reason != ReasonRevokedToken {
		t.Errorf("revoked in the next bundle: reason %s, want revoked_token", d.Reason)
	}

	// A bundle without the token: the entry of the old bundle must be gone.
	other := f.tokens[idAnon].token
	empty := newValidatorOf(t, other)
	if d := empty.DecideCached(req, fixtureNow, cache); d.Reason != ReasonUnknownToken {
		t.Errorf("token removed in the next bundle: reason %s, want unknown_token", d.Reason)
	}
	if cache.Len() != 0 {
		t.Errorf("cache holds %d credentials after the swap, want 0", cache.Len())
	}
	if cache.Bytes() != 0 {
		t.Errorf("cache holds %d bytes after the swap, want 0", cache.Bytes())
	}
}

// newValidatorOf returns a validator of the default policy and a store of tokens.
func newValidatorOf(t *testing.T, tokens ...Token) *Validator {
	t.Helper()
	store, err := NewStore(tokens)
	if err != nil {
		t.Fatal(err)
	}
	return NewValidator(newDefaultPolicy(t), store)
}

func TestCredentialCache_UnknownNotCached(t *testing.T) {
	f := newFixture(t, nil)
	cache := NewCredentialCache(0, 0)
	for i := range 50 {
		req := searchRequest(mintFixtureSecret(t, byte(100+i)))
		if d := f.validator.DecideCached(req, fixtureNow, cache); d.Reason != ReasonUnknownToken {
			t.Fatalf("guess %d: reason %s, want unknown_token", i, d.Reason)
		}
	}
	malformed := searchRequest("glean_short")
	if d := f.validator.DecideCached(malformed, fixtureNow, cache); d.Reason != ReasonMalformedToken {
		t.Errorf("malformed token: reason %s, want malformed_token", d.Reason)
	}
	if cache.Len() != 0 {
		t.Errorf("cache holds %d credentials after guesses, want 0", cache.Len())
	}
}

func TestCredentialCache_Bounds(t *testing.T) {
	f := newFixture(t, nil)
	ids := []string{idUser, idGlobal, idAnon, idLegacy, idUserNever}
	cases := []struct {
		name                 string
		maxEntries, maxBytes int
	}{
		{"two entries", 2, 0},
		{"fifty bytes", 0, 50},
		{"one credential of bytes", 0, len(f.tokens[idUser].secret)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cache := NewCredentialCache(c.maxEntries, c.maxBytes)
			maxEntries, maxBytes := cache.maxEntries, cache.maxBytes
			for round := range 2 {
				for _, id := range ids {
					req := searchRequest(f.tokens[id].secret)
					if got, want := f.validator.DecideCached(req, fixtureNow, cache), f.validator.Decide(req, fixtureNow); got != want {
						t.Errorf("round %d, %s: cached %+v, want %+v", round, id, got, want)
					}
					if cache.Len() > maxEntries {
						t.Errorf("round %d, %s: %d entries, bound %d", round, id, cache.Len(), maxEntries)
					}
					if cache.Bytes() > maxBytes {
						t.Errorf("round %d, %s: %d bytes, bound %d", round, id, cache.Bytes(), maxBytes)
					}
				}
			}
			if cache.Len() == 0 {
				t.Error("cache is empty after the last lookup")
			}
		})
	}
}

func TestCredentialCache_KeyCopied(t *testing.T) {
	f := newFixture(t, nil)
	secret := f.tokens[idUser].secret
	// The field value aliases buf, as it aliases the request buffer in the wasm module, so the
	// credential passed to the cache does too.
	buf := []byte("Bearer " + secret)
	req := Request{Method: "POST", Path: api("/search"), Headers: []Header{
		{HeaderAuthorization, unsafe.String(&buf[0], len(buf))},
	}}
	cache := NewCredentialCache(0, 0)
	if d := f.validator.DecideCached(req, fixtureNow, cache); d.Reason != ReasonOK {
		t.Fatalf("aliased credential: reason %s, want ok", d.Reason)
	}
	// Reusing the buffer must not change the cached key: the same secret in a string of its
	// own must hit the entry, not add a second one.
	copy(buf[len("Bearer "):], mintFixtureSecret(t, 200))
	if d := f.validator.DecideCached(req, fixtureNow, cache); d.Reason != ReasonUnknownToken {
		t.Errorf("buffer reused for a guess: reason %s, want unknown_token", d.Reason)
	}
	if d := f.validator.DecideCached(searchRequest(secret), fixtureNow, cache); d.Reason != ReasonOK {
		t.Errorf("secret in its own string: reason %s, want ok", d.Reason)
	}
	if cache.Len() != 1 {
		t.Errorf("cache holds %d credentials, want 1", cache.Len())
	}
}
