package core

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
)

// StoreFormatVersion is the newest store file format this package reads and the one it writes.
const StoreFormatVersion = 1

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
	s := &Store{
		tokens:   tokens,
		byDigest: make(map[[sha256.Size]byte]int32, len(tokens)),
	}
	ids := make(map[string]struct{}, len(tokens))
	for i := range s.tokens {
		t := &s.tokens[i]
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("token %d: %w", i, err)
		}
		if _, dup := ids[t.ID]; dup {
			return nil, fmt.Errorf("token %d: duplicate id %q", i, t.ID)
		}
		ids[t.ID] = struct{}{}
		var key [sha256.Size]byte
		if _, err := hex.Decode(key[:], []byte(t.Digest)); err != nil {
			return nil, fmt.Errorf("token %s: digest: %w", t.ID, err)
		}
		if _, dup := s.byDigest[key]; dup {
			return nil, fmt.Errorf("token %s: duplicate digest: another token has the same secret", t.ID)
		}
		s.byDigest[key] = int32(i)
	}
	return s, nil
}

// storeFile is the JSON layout of a store file.
type storeFile struct {
	Version int     `json:"version,omitempty"`
	Tokens  []Token `json:"tokens"`
}

// ParseStore decodes a store file, {"version": 1, "tokens": [...]}, and builds the store. An
// absent version means 1. Unknown fields and newer versions are rejected, so a tool that
// rewrites the file never drops data it does not understand.
func ParseStore(data []byte) (*Store, error) {
	f, ok := parseStoreFast(data)
	if !ok {
		f = storeFile{}
		if err := decodeStrict(data, &f); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	if f.Version > StoreFormatVersion {
		return nil, fmt.Errorf("store: format version %d is newer than %d, the newest this build reads: upgrade tokengate", f.Version, StoreFormatVersion)
	}
	if f.Version < 0 {
		return nil, fmt.Errorf("store: invalid format version %d", f.Version)
	}
	s, err := newStoreOwning(f.Tokens)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return s, nil
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
