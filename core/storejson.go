package core

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unsafe"
)

// This file is the fast path of ParseStore and DecodeBundle. With encoding/json alone, a store
// of 1,000,000 tokens took about 15 s to load on a 2-core machine (make bench), mostly in
// building a decoder per token and scanning every byte several times. The fast path reads the
// common form of the two files in one pass. It gives up on anything else: an escaped or
// non-ASCII key, an unknown or repeated field, a null, a number that is not a plain integer,
// and any syntax error. The caller then decodes the whole file again with encoding/json. So a
// file that the fast path gives up on gets exactly the result and error of encoding/json, and
// a file that it accepts decodes to the same values (FuzzParseStoreFast checks this).

// jsonReader is a cursor over JSON input. Its methods return false where the fast path gives
// up.
type jsonReader struct {
	data []byte
	pos  int
	// times is a slab that the *time.Time fields of decoded records point into, so a record
	// needs no allocation per instant. The pointers live only until the record is converted.
	times []time.Time
	// text is a slab that the decoded strings without escapes share, so a record needs no
	// allocation per string. Bytes handed out are never written again, and a full slab is
	// replaced, never grown, so the strings stay valid.
	text []byte
}

const (
	// textSlabSize is the size of one string slab: small enough that a store of a few tokens
	// wastes little, large enough that a large store needs few allocations.
	textSlabSize = 64 << 10
	// maxSlabString is the longest string copied into a slab. A longer one is allocated on
	// its own, so that it does not waste the rest of a slab.
	maxSlabString = 1 << 10
)

// newString returns a string with the bytes of b, copied into the string slab.
func (r *jsonReader) newString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > maxSlabString {
		return string(b)
	}
	if cap(r.text)-len(r.text) < len(b) {
		r.text = make([]byte, 0, textSlabSize)
	}
	start := len(r.text)
	r.text = append(r.text, b...)
	return unsafe.String(&r.text[start], len(b))
}

// newTime returns a zero time.Time from the slab.
func (r *jsonReader) newTime() *time.Time {
	if len(r.times) == cap(r.times) {
		r.times = make([]time.Time, 0, 1024)
	}
	r.times = r.times[:len(r.times)+1]
	return &r.times[len(r.times)-1]
}

// skipSpace advances past JSON whitespace.
func (r *jsonReader) skipSpace() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// consume skips whitespace and then the byte c, and reports whether c was there.
func (r *jsonReader) consume(c byte) bool {
	r.skipSpace()
	if r.pos < len(r.data) && r.data[r.pos] == c {
		r.pos++
		return true
	}
	return false
}

// atEnd reports whether only whitespace is left.
func (r *jsonReader) atEnd() bool {
	r.skipSpace()
	return r.pos == len(r.data)
}

// rawString returns the bytes of the string at the cursor with their quotes, and whether
// they contain a backslash or a byte outside printable ASCII.
func (r *jsonReader) rawString() (raw []byte, special, ok bool) {
	r.skipSpace()
	if r.pos >= len(r.data) || r.data[r.pos] != '"' {
		return nil, false, false
	}
	start := r.pos
	for i := start + 1; i < len(r.data); i++ {
		c := r.data[i]
		switch {
		case c == '"':
			r.pos = i + 1
			return r.data[start:r.pos], special, true
		case c == '\\':
			special = true
			i++ // the escaped byte cannot end the string
		case c < 0x20:
			return nil, false, false // invalid JSON; encoding/json reports it
		case c >= 0x80:
			special = true
		}
	}
	return nil, false, false
}

// key reads an object key that is plain ASCII without escapes, and the colon after it. The
// key aliases the input, so reading it allocates nothing.
func (r *jsonReader) key() ([]byte, bool) {
	raw, special, ok := r.rawString()
	if !ok || special || !r.consume(':') {
		return nil, false
	}
	return raw[1 : len(raw)-1], true
}

// str reads a string value. Escapes and non-ASCII bytes go through encoding/json, which
// also replaces invalid UTF-8 the way the slow path does.
func (r *jsonReader) str() (string, bool) {
	raw, special, ok := r.rawString()
	if !ok {
		return "", false
	}
	if !special {
		return r.newString(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// instant reads an RFC 3339 string the way encoding/json decodes a *time.Time: with
// time.Time's own UnmarshalJSON.
func (r *jsonReader) instant() (*time.Time, bool) {
	raw, special, ok := r.rawString()
	if !ok || special {
		return nil, false
	}
	t := r.newTime()
	if err := t.UnmarshalJSON(raw); err != nil {
		return nil, false
	}
	return t, true
}

// integer reads a JSON number without fraction or exponent that fits an int.
func (r *jsonReader) integer() (int, bool) {
	r.skipSpace()
	start := r.pos
	if r.pos < len(r.data) && r.data[r.pos] == '-' {
		r.pos++
	}
	digits := r.pos
	for r.pos < len(r.data) && '0' <= r.data[r.pos] && r.data[r.pos] <= '9' {
		r.pos++
	}
	n := r.pos - digits
	if n == 0 || n > 1 && r.data[digits] == '0' {
		return 0, false
	}
	if r.pos < len(r.data) {
		switch r.data[r.pos] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	v, err := strconv.Atoi(string(r.data[start:r.pos]))
	return v, err == nil
}

// strings reads an array of strings. An empty array gives an empty, non-nil slice, as
// encoding/json does.
func (r *jsonReader) strings() ([]string, bool) {
	if !r.consume('[') {
		return nil, false
	}
	out := []string{}
	if r.consume(']') {
		return out, true
	}
	for {
		s, ok := r.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		if r.consume(']') {
			return out, true
		}
		if !r.consume(',') {
			return nil, false
		}
	}
}

// scopes reads a list of scope names with the rules of ParseScopeList: at least one, each
// known, none twice. Names are compared in place, so reading them allocates nothing.
func (r *jsonReader) scopes() (ScopeSet, bool) {
	if !r.consume('[') {
		return 0, false
	}
	var set ScopeSet
	for {
		raw, special, ok := r.rawString()
		if !ok || special {
			return 0, false
		}
		s := scopeByName(raw[1 : len(raw)-1])
		if s == 0 || set.Has(s) {
			return 0, false
		}
		set = set.Add(s)
		if r.consume(']') {
			return set, true
		}
		if !r.consume(',') {
			return 0, false
		}
	}
}

// scopeByName returns the scope with the given name, or 0.
func scopeByName(name []byte) Scope {
	for i := 1; i < len(scopeNames); i++ {
		if string(name) == scopeNames[i] {
			return Scope(i)
		}
	}
	return 0
}

// object reads an object whose keys field handles. It gives up on a key seen twice, because
// encoding/json merges repeated keys field by field.
func (r *jsonReader) object(field func(key []byte) bool) bool {
	if !r.consume('{') {
		return false
	}
	if r.consume('}') {
		return true
	}
	var seenBuf [16][]byte
	seen := seenBuf[:0]
	for {
		k, ok := r.key()
		if !ok || slices.ContainsFunc(seen, func(s []byte) bool { return bytes.Equal(s, k) }) {
			return false
		}
		seen = append(seen, k)
		if !field(k) {
			return false
		}
		if r.consume('}') {
			return true
		}
		if !r.consume(',') {
			return false
		}
	}
}

// token reads one token record with the rules of Token.UnmarshalJSON.
func (r *jsonReader) token() (Token, bool) {
	var v tokenJSON
	ok := r.object(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "id":
			v.ID, ok = r.str()
		case "digest":
			v.Digest, ok = r.str()
		case "description":
			v.Description, ok = r.str()
		case "permission":
			var name string
			if name, ok = r.str(); ok {
				v.Permission, ok = parsePermissionOK(name)
			}
		case "scopes":
			v.Scopes, ok = r.scopes()
		case "user":
			v.User, ok = r.str()
		case "expires_at":
			v.ExpiresAt, ok = r.instant()
		case "revoked_at":
			v.RevokedAt, ok = r.instant()
		case "actas_domains":
			v.ActAsDomains, ok = r.strings()
		case "created_at":
			v.CreatedAt, ok = r.instant()
		case "created_by":
			v.CreatedBy, ok = r.str()
		}
		return ok
	})
	if !ok {
		return Token{}, false
	}
	t, err := v.token()
	return t, err == nil
}

func parsePermissionOK(name string) (Permission, bool) {
	p, err := ParsePermission(name)
	return p, err == nil
}

// sampleRecords is the number of records that store reads before it sizes the token slice
// and the indexes.
const sampleRecords = 64

// store reads an array of token records and builds the store from them, indexing each record
// right after reading it, while it is still in the CPU cache. It sizes the slice and the
// indexes from the average length of the first records, because growing them by appending
// copies each of a million records several times. A slice that ends up much larger than
// needed is copied to its length, so at most a quarter of it is ever unused. It gives up on
// an invalid record too, so that the slow path reports the errors in its own order.
func (r *jsonReader) store() (*Store, bool) {
	if !r.consume('[') {
		return nil, false
	}
	if r.consume(']') {
		return newStoreBuilder(nil, 0).store, true
	}
	var (
		tokens  []Token
		builder *storeBuilder
	)
	start := r.pos
	for {
		t, ok := r.token()
		if !ok {
			return nil, false
		}
		tokens = append(tokens, t)
		switch {
		case builder != nil:
			builder.store.tokens = tokens
			if builder.index(len(tokens)-1) != nil {
				return nil, false
			}
		case len(tokens) == sampleRecords:
			builder = r.sizedBuilder(tokens, start)
			if builder == nil {
				return nil, false
			}
			tokens = builder.store.tokens
		}
		if r.consume(']') {
			break
		}
		if !r.consume(',') {
			return nil, false
		}
	}
	if builder == nil {
		s, err := newStoreOwning(tokens)
		return s, err == nil
	}
	if len(tokens) < cap(tokens)*3/4 {
		tokens = append([]Token(nil), tokens...)
	}
	builder.store.tokens = tokens
	return builder.store, true
}

// sizedBuilder estimates the number of records from the ones read since start, moves them to
// a slice of that capacity and indexes them. It returns nil when one of them is invalid.
func (r *jsonReader) sizedBuilder(sample []Token, start int) *storeBuilder {
	perRecord := max((r.pos-start)/len(sample), 1)
	estimate := len(sample) + (len(r.data)-r.pos)/perRecord
	tokens := append(make([]Token, 0, estimate+estimate/8), sample...)
	b := newStoreBuilder(tokens, estimate)
	for i := range tokens {
		if b.index(i) != nil {
			return nil
		}
	}
	return b
}

// policy reads a policy object with PolicySpec.UnmarshalJSON, as encoding/json would.
func (r *jsonReader) policy() (PolicySpec, bool) {
	r.skipSpace()
	if r.pos >= len(r.data) || r.data[r.pos] != '{' {
		return PolicySpec{}, false
	}
	// A json.Decoder finds the end of the value and reads only a little past it.
	dec := json.NewDecoder(bytes.NewReader(r.data[r.pos:]))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return PolicySpec{}, false
	}
	r.pos += int(dec.InputOffset())
	var spec PolicySpec
	if err := spec.UnmarshalJSON(raw); err != nil {
		return PolicySpec{}, false
	}
	return spec, true
}

// parseStoreFast reads a store file and builds its store on the fast path. ok is false where
// it gives up.
func parseStoreFast(data []byte) (version int, s *Store, ok bool) {
	r := &jsonReader{data: data}
	ok = r.object(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "version":
			version, ok = r.integer()
		case "tokens":
			s, ok = r.store()
		}
		return ok
	})
	// A file without a "tokens" array goes to the slow path, which rejects it.
	return version, s, ok && s != nil && r.atEnd()
}

// parseBundleFast reads a bundle file and builds its store on the fast path. ok is false
// where it gives up. f.Content is the content's bytes in data, which the digest covers; its
// policy is returned uncompiled, as the slow path decodes it.
func parseBundleFast(data []byte) (f bundleFile, policy PolicySpec, s *Store, ok bool) {
	r := &jsonReader{data: data}
	ok = r.object(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "format":
			f.Format, ok = r.integer()
		case "digest":
			f.Digest, ok = r.str()
		case "content":
			r.skipSpace()
			start := r.pos
			if policy, s, ok = r.content(); ok {
				f.Content = data[start:r.pos]
			}
		}
		return ok
	})
	if s == nil {
		s = newStoreBuilder(nil, 0).store
	}
	return f, policy, s, ok && r.atEnd()
}

// content reads the content member of a bundle.
func (r *jsonReader) content() (policy PolicySpec, s *Store, ok bool) {
	ok = r.object(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "policy":
			policy, ok = r.policy()
		case "tokens":
			s, ok = r.store()
		}
		return ok
	})
	return policy, s, ok
}
