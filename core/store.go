package core

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// StoreFormatVersion is the newest store file format this package reads and the one it writes.
const StoreFormatVersion = 1

// ErrNewerStoreFormat is wrapped by the error that [ParseStore] returns for a store file of a
// format version newer than [StoreFormatVersion]. The file is not damaged, so the fix is a
// newer build.
var ErrNewerStoreFormat = errors.New("upgrade tokengate")

// Store is an immutable index of tokens by digest. Build one with [NewStore] or [ParseStore].
type Store struct {
	tokens   []Token
	byDigest map[[sha256.Size]byte]int32
}

// NewStore validates the tokens and indexes them by digest. It rejects an invalid token and a
// duplicate id or digest. The store keeps its own copy of the slice.
func NewStore(tokens []Token) (*Store, error) {
	return newStoreOwning(append([]Token(nil), tokens...))
}

// newStoreOwning is NewStore for a slice that nobody else holds, so it needs no copy.
func newStoreOwning(tokens []Token) (*Store, error) {
	b := newStoreBuilder(tokens, len(tokens))
	for i := range tokens {
		if err := b.index(i); err != nil {
			return nil, err
		}
	}
	return b.store, nil
}

// storeBuilder validates and indexes the tokens of a store one at a time. NewStore and the
// fast path of ParseStore (storejson.go) both use it, so they apply the same checks, and the
// fast path can index each record while it is still in the CPU cache.
type storeBuilder struct {
	store *Store
	ids   *idSet
}

// newStoreBuilder returns a builder for a store of tokens, with indexes sized for sizeHint
// tokens.
func newStoreBuilder(tokens []Token, sizeHint int) *storeBuilder {
	return &storeBuilder{
		store: &Store{tokens: tokens, byDigest: make(map[[sha256.Size]byte]int32, sizeHint)},
		ids:   newIDSet(sizeHint),
	}
}

// index validates token i of the store and adds it to the indexes. Tokens must be indexed in
// order, starting at 0.
func (b *storeBuilder) index(i int) error {
	t := &b.store.tokens[i]
	if err := t.Validate(); err != nil {
		return fmt.Errorf("token %d: %w", i, err)
	}
	if !b.ids.add(b.store.tokens, i) {
		return fmt.Errorf("token %d: duplicate id %q", i, t.ID)
	}
	var key [sha256.Size]byte
	if _, err := hex.Decode(key[:], []byte(t.Digest)); err != nil {
		return fmt.Errorf("token %s: digest: %w", t.ID, err)
	}
	// A map that does not grow on insert already had the key. Checking the length saves a
	// second probe, which costs a cache miss per token in a large store.
	b.store.byDigest[key] = int32(i)
	if len(b.store.byDigest) != i+1 {
		return fmt.Errorf("token %s: duplicate digest: another token has the same secret", t.ID)
	}
	return nil
}

// storeFile is the JSON layout of a store file.
type storeFile struct {
	Version int     `json:"version,omitempty"`
	Tokens  []Token `json:"tokens"`
}

// ParseStore decodes a store file, {"version": 1, "tokens": [...]}, and builds the store. An
// absent version means 1. Unknown fields and newer versions are rejected, so a tool that
// rewrites the file never drops data it does not understand. The "tokens" array is required;
// an empty one makes an empty store.
func ParseStore(data []byte) (*Store, error) {
	if version, s, ok := parseStoreFast(data); ok {
		if err := checkStoreVersion(version); err != nil {
			return nil, err
		}
		return s, nil
	}
	var f storeFile
	if err := decodeStrict(data, &f); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := checkStoreVersion(f.Version); err != nil {
		return nil, err
	}
	// A file of null, {} or "tokens": null is more likely damage than an empty store, and an
	// empty store denies every request, so only an explicit empty array makes one.
	if f.Tokens == nil {
		return nil, errors.New(`store: missing "tokens" array: a store file is an object such as {"version": 1, "tokens": []}`)
	}
	s, err := newStoreOwning(f.Tokens)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return s, nil
}

// checkStoreVersion rejects a store file format version that this build cannot read.
func checkStoreVersion(version int) error {
	if version > StoreFormatVersion {
		return fmt.Errorf("store: format version %d is newer than %d, the newest this build reads: %w", version, StoreFormatVersion, ErrNewerStoreFormat)
	}
	if version < 0 {
		return fmt.Errorf("store: invalid format version %d", version)
	}
	return nil
}

// MarshalJSON encodes the store in the store file format, with the format version.
func (s *Store) MarshalJSON() ([]byte, error) {
	tokens := s.tokens
	if tokens == nil {
		tokens = []Token{}
	}
	return json.Marshal(storeFile{Version: StoreFormatVersion, Tokens: tokens})
}

// Len returns the number of tokens.
func (s *Store) Len() int { return len(s.tokens) }

// Tokens returns a copy of the tokens in store order.
func (s *Store) Tokens() []Token { return append([]Token(nil), s.tokens...) }

// ByID returns the token with the given id.
func (s *Store) ByID(id string) (Token, bool) {
	for i := range s.tokens {
		if s.tokens[i].ID == id {
			return s.tokens[i], true
		}
	}
	return Token{}, false
}

// lookup returns the token whose digest is the SHA-256 of secret, or nil.
func (s *Store) lookup(secret string) *Token {
	// Copying into a stack buffer lets the hash run without a heap allocation for any
	// credential up to the buffer's size.
	var buf [256]byte
	var sum [sha256.Size]byte
	if len(secret) <= len(buf) {
		b := append(buf[:0], secret...)
		sum = sha256.Sum256(b)
	} else {
		sum = sha256.Sum256([]byte(secret))
	}
	i, ok := s.byDigest[sum]
	if !ok {
		return nil
	}
	return &s.tokens[i]
}

// decodeStrict decodes JSON into v, rejecting unknown fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}
