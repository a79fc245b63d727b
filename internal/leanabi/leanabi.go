// Package leanabi encodes requests and decisions for the lean ABI of build/tokengate.wasm, the
// binary calling convention that the Go host uses in place of Extism's JSON exports. The guest
// (package main in wasm/) and the host (package host) both use this package, so the two sides
// cannot drift apart.
//
// # Exports
//
// The module exports these functions for the lean ABI. Pointers are offsets into the guest's
// linear memory. A packed result is ptr<<32 | len and names bytes that stay valid until the
// next call into the instance.
//
//	lean_abi_version() -> i32       returns [Version]; the host rejects any other value
//	lean_buffer(n i32) -> i32       returns a pointer to a reusable buffer of at least n bytes
//	lean_load_bundle(n i32) -> i64  loads the bundle held in the first n buffer bytes; returns
//	                                a packed error message, with length 0 on success
//	lean_decide(n i32) -> i64       decides the request held in the first n buffer bytes;
//	                                returns a packed decision
//	lean_set_credential_cache(entries i32)
//	                                bounds the instance's credential cache to entries
//	                                credentials and empties it: 0 restores the default
//	                                ([core.DefaultCredentialCacheEntries]) and a negative
//	                                value turns the cache off
//
// The buffer keeps its address and size until the next lean_buffer call, so a host may write
// any later input of at most n bytes to the same pointer without asking again.
//
// # Request layout
//
// All integers are little-endian and unsigned unless noted.
//
//	offset 0   int64  the instant of the decision, Unix nanoseconds (signed)
//	offset 8   u32    method length m, then m bytes of method
//	           u32    path length p, then p bytes of path (with the query, if any)
//	           u32    header count h, then h times:
//	                  u32 name length, name bytes, u32 value length, value bytes
//
// # Decision layout
//
//	offset 0   u8     reason code ([core.Reason])
//	offset 1   u8     permission ([core.Permission], 0 when absent)
//	offset 2   u8     scope ([core.Scope], 0 when absent)
//	offset 3   u32    token id length t, then t bytes of token id
//	           u32    principal length q, then q bytes of principal
//
// Allow, Status and Error are not sent: they follow from the reason code.
package leanabi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/tokengate/tokengate/core"
)

// Version is the ABI version that lean_abi_version returns. It changes whenever a layout in
// this package changes or an export is added or changed.
const Version = 2

// Names of the lean ABI exports.
const (
	ExportVersion    = "lean_abi_version"
	ExportBuffer     = "lean_buffer"
	ExportLoadBundle = "lean_load_bundle"
	ExportDecide     = "lean_decide"
	ExportSetCache   = "lean_set_credential_cache"
)

// DecisionHeaderSize is the size of the fixed part of an encoded decision.
const DecisionHeaderSize = 3

// errTruncated is returned for input that ends inside a field.
var errTruncated = errors.New("lean abi: truncated input")

// RequestSize returns the encoded size of req in bytes.
func RequestSize(req core.Request) int {
	n := 8 + 4 + len(req.Method) + 4 + len(req.Path) + 4
	for i := range req.Headers {
		n += 4 + len(req.Headers[i].Name) + 4 + len(req.Headers[i].Value)
	}
	return n
}

// PutRequest encodes req and the instant now (Unix nanoseconds) into dst, which must be at
// least [RequestSize](req) bytes long, and returns the number of bytes written.
func PutRequest(dst []byte, req core.Request, now int64) int {
	binary.LittleEndian.PutUint64(dst, uint64(now))
	off := 8
	off = putString(dst, off, req.Method)
	off = putString(dst, off, req.Path)
	binary.LittleEndian.PutUint32(dst[off:], uint32(len(req.Headers)))
	off += 4
	for i := range req.Headers {
		off = putString(dst, off, req.Headers[i].Name)
		off = putString(dst, off, req.Headers[i].Value)
	}
	return off
}

func putString(dst []byte, off int, s string) int {
	binary.LittleEndian.PutUint32(dst[off:], uint32(len(s)))
	off += 4
	return off + copy(dst[off:], s)
}

// DecodeRequest decodes an encoded request into req and returns its instant in Unix
// nanoseconds. It reuses the capacity of req.Headers.
//
// The strings of req alias src without copying, so the caller must not change src while req
// or anything derived from it is in use.
func DecodeRequest(src []byte, req *core.Request) (int64, error) {
	// One flat loop over the fields, because function calls are costly in Go's wasm code.
	if len(src) < 8+4 {
		return 0, errTruncated
	}
	now := int64(binary.LittleEndian.Uint64(src))
	off := 8
	var fields [2]string
	for i := range fields {
		n := uint64(binary.LittleEndian.Uint32(src[off:]))
		off += 4
		if n+4 > uint64(len(src)-off) {
			return 0, errTruncated
		}
		fields[i] = aliasString(src[off : off+int(n)])
		off += int(n)
	}
	req.Method, req.Path = fields[0], fields[1]
	count := binary.LittleEndian.Uint32(src[off:])
	off += 4
	// Every header needs at least 8 bytes, which bounds the count before allocating.
	if uint64(count)*8 > uint64(len(src)-off) {
		return 0, fmt.Errorf("lean abi: header count %d does not fit the %d bytes left", count, len(src)-off)
	}
	headers := req.Headers[:0]
	for range count {
		var h core.Header
		for k := range 2 {
			if len(src)-off < 4 {
				return 0, errTruncated
			}
			n := uint64(binary.LittleEndian.Uint32(src[off:]))
			off += 4
			if n > uint64(len(src)-off) {
				return 0, errTruncated
			}
			if k == 0 {
				h.Name = aliasString(src[off : off+int(n)])
			} else {
				h.Value = aliasString(src[off : off+int(n)])
			}
			off += int(n)
		}
		headers = append(headers, h)
	}
	req.Headers = headers
	if off != len(src) {
		return 0, fmt.Errorf("lean abi: %d bytes after the request", len(src)-off)
	}
	return now, nil
}

// aliasString returns b as a string without copying.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// AppendDecision appends the encoding of d to dst and returns the extended slice.
func AppendDecision(dst []byte, d core.Decision) []byte {
	dst = append(dst, byte(d.Reason), byte(d.Permission), byte(d.Scope))
	dst = appendString(dst, d.TokenID)
	return appendString(dst, d.Principal)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// Strings turns the token id and principal bytes of a decision into strings. The bytes alias
// guest memory, so an implementation must copy them (or return an existing equal string).
type Strings func(b []byte) string

// CopyString returns a new string with the bytes of b.
func CopyString(b []byte) string { return string(b) }

// DecodeDecision decodes an encoded decision and fills in Allow, Status and Error from its
// reason. It rejects an unknown reason, permission or scope and any truncated or trailing
// bytes. str makes the token id and principal strings; nil means [CopyString].
func DecodeDecision(src []byte, str Strings) (core.Decision, error) {
	if str == nil {
		str = CopyString
	}
	if len(src) < DecisionHeaderSize {
		return core.Decision{}, errTruncated
	}
	reason := core.Reason(src[0])
	perm := core.Permission(src[1])
	scope := core.Scope(src[2])
	switch {
	case !reason.Valid():
		return core.Decision{}, fmt.Errorf("lean abi: invalid reason code %d", src[0])
	case perm != 0 && !perm.Valid():
		return core.Decision{}, fmt.Errorf("lean abi: invalid permission %d", src[1])
	case scope != 0 && !scope.Valid():
		return core.Decision{}, fmt.Errorf("lean abi: invalid scope %d", src[2])
	}
	r := reader{src: src, off: DecisionHeaderSize}
	tokenID := r.bytes()
	principal := r.bytes()
	if r.err != nil {
		return core.Decision{}, r.err
	}
	if r.off != len(src) {
		return core.Decision{}, fmt.Errorf("lean abi: %d bytes after the decision", len(src)-r.off)
	}
	d := core.Decision{
		Allow:      reason.Allow(),
		Status:     reason.Status(),
		Reason:     reason,
		Error:      reason.ErrorCode(),
		Permission: perm,
		Scope:      scope,
	}
	if len(tokenID) > 0 {
		d.TokenID = str(tokenID)
	}
	if len(principal) > 0 {
		d.Principal = str(principal)
	}
	return d, nil
}

// Pack returns the packed result ptr<<32 | len.
func Pack(ptr, length uint32) uint64 { return uint64(ptr)<<32 | uint64(length) }

// Unpack splits a packed result into pointer and length.
func Unpack(packed uint64) (ptr, length uint32) { return uint32(packed >> 32), uint32(packed) }

// reader reads length-prefixed fields and keeps the first error.
type reader struct {
	src []byte
	off int
	err error
}

func (r *reader) uint32() uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.src)-r.off < 4 {
		r.err = errTruncated
		return 0
	}
	v := binary.LittleEndian.Uint32(r.src[r.off:])
	r.off += 4
	return v
}

func (r *reader) bytes() []byte {
	n := r.uint32()
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.src)-r.off) {
		r.err = errTruncated
		return nil
	}
	b := r.src[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}
