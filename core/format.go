package core

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The token format minted by this project: TokenPrefix, TokenRandomLen random base62
// characters, then the CRC-32 (IEEE) of everything before it in TokenChecksumLen base62
// characters, most significant digit first and left-padded with '0'.
const (
	TokenPrefix      = "glean_"
	TokenRandomLen   = 30
	TokenChecksumLen = 6
	TokenLen         = len(TokenPrefix) + TokenRandomLen + TokenChecksumLen
)

// base62 is the token alphabet: digits, then upper case, then lower case.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Errors returned by [CheckTokenFormat].
var (
	ErrTokenLength   = errors.New("token has the wrong length")
	ErrTokenAlphabet = errors.New("token has a character outside the base62 alphabet")
	ErrTokenChecksum = errors.New("token checksum does not match")
	ErrTokenPrefix   = errors.New("token does not start with " + TokenPrefix)
)

// base62Values maps a byte to its base62 value, or -1 for a byte outside the alphabet.
var base62Values = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base62); i++ {
		t[base62[i]] = int8(i)
	}
	return t
}()

// crc32Tables are the slicing-by-8 tables of CRC-32 (IEEE): crc32Tables[0] is
// crc32.IEEETable, and crc32Tables[k][b] is the CRC state after byte b and then k zero bytes.
var crc32Tables = func() (t [8][256]uint32) {
	t[0] = *crc32.IEEETable
	for i := range 256 {
		crc := t[0][i]
		for k := 1; k < 8; k++ {
			crc = t[0][byte(crc)] ^ crc>>8
			t[k][i] = crc
		}
	}
	return t
}()

// crc32String returns the CRC-32 (IEEE) of s, the value of crc32.ChecksumIEEE([]byte(s)).
// Reading the string in place keeps CheckTokenFormat free of heap allocations. The
// conversion to []byte escapes because hash/crc32 (Go 1.26) calls through a function variable.
func crc32String(s string) uint32 {
	t := &crc32Tables
	crc := ^uint32(0)
	for len(s) >= 8 {
		crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		crc = t[0][s[7]] ^ t[1][s[6]] ^ t[2][s[5]] ^ t[3][s[4]] ^
			t[4][crc>>24] ^ t[5][byte(crc>>16)] ^ t[6][byte(crc>>8)] ^ t[7][byte(crc)]
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		crc = t[0][byte(crc)^s[i]] ^ crc>>8
	}
	return ^crc
}

// appendChecksum appends the base62 form of sum, TokenChecksumLen digits wide.
func appendChecksum(dst []byte, sum uint32) []byte {
	var digits [TokenChecksumLen]byte
	v := uint64(sum)
	for i := TokenChecksumLen - 1; i >= 0; i-- {
		digits[i] = base62[v%62]
		v /= 62
	}
	return append(dst, digits[:]...)
}

// TokenChecksum returns the checksum characters for the first 36 characters of a token
// (the prefix and the random part).
func TokenChecksum(body string) string {
	return string(appendChecksum(nil, crc32String(body)))
}

// CheckTokenFormat reports whether s is a well-formed prefixed token: the prefix, the length,
// the alphabet and the checksum. A token without the prefix returns [ErrTokenPrefix].
func CheckTokenFormat(s string) error {
	if len(s) < len(TokenPrefix) || s[:len(TokenPrefix)] != TokenPrefix {
		return ErrTokenPrefix
	}
	if len(s) != TokenLen {
		return ErrTokenLength
	}
	body := TokenLen - TokenChecksumLen
	for i := len(TokenPrefix); i < body; i++ {
		if base62Values[s[i]] < 0 {
			return ErrTokenAlphabet
		}
	}
	var want uint64
	for i := body; i < TokenLen; i++ {
		v := base62Values[s[i]]
		if v < 0 {
			return ErrTokenAlphabet
		}
		want = want*62 + uint64(v)
	}
	if want != uint64(crc32String(s[:body])) {
		return ErrTokenChecksum
	}
	return nil
}

// mintMaxChunks bounds the random chunks MintToken reads. A uniform source needs one chunk,
// except with a probability far below 1e-30, so running out means the source is broken (for
// example, it returns only 0xFF bytes).
const mintMaxChunks = 16

// MintToken returns a new token in the project's format, drawing its random part from random
// (crypto/rand.Reader in production). It skips the random bytes that would bias the base62
// digits, and returns an error when the source fails or yields too few usable bytes.
func MintToken(random io.Reader) (string, error) {
	buf := make([]byte, 0, TokenLen)
	buf = append(buf, TokenPrefix...)
	var chunk [64]byte
	for chunks := 0; len(buf) < len(TokenPrefix)+TokenRandomLen; chunks++ {
		if chunks == mintMaxChunks {
			return "", fmt.Errorf("mint token: %d bytes from the random source held fewer than %d below 248, which a uniform source practically never does: check the source", mintMaxChunks*len(chunk), TokenRandomLen)
		}
		if _, err := io.ReadFull(random, chunk[:]); err != nil {
			return "", fmt.Errorf("mint token: read random source: %w", err)
		}
		for _, b := range chunk {
			// 248 = 4*62: bytes at or above it would bias the first digits.
			if b >= 248 {
				continue
			}
			buf = append(buf, base62[b%62])
			if len(buf) == len(TokenPrefix)+TokenRandomLen {
				break
			}
		}
	}
	buf = appendChecksum(buf, crc32String(string(buf)))
	return string(buf), nil
}

// Digest returns the lowercase hex SHA-256 of a token string, the key under which a store
// keeps the token.
func Digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
