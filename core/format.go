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

func base62Value(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'Z':
		return int(c-'A') + 10
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
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
	return string(appendChecksum(nil, crc32.ChecksumIEEE([]byte(body))))
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
	for i := len(TokenPrefix); i < TokenLen; i++ {
		if base62Value(s[i]) < 0 {
			return ErrTokenAlphabet
		}
	}
	body := TokenLen - TokenChecksumLen
	var want uint64
	for i := body; i < TokenLen; i++ {
		want = want*62 + uint64(base62Value(s[i]))
	}
	if want != uint64(crc32.ChecksumIEEE([]byte(s[:body]))) {
		return ErrTokenChecksum
	}
	return nil
}

// MintToken returns a new token in the project's format, drawing its random part from random
// (crypto/rand.Reader in production). It rejects random bytes without bias.
func MintToken(random io.Reader) (string, error) {
	buf := make([]byte, 0, TokenLen)
	buf = append(buf, TokenPrefix...)
	var chunk [64]byte
	for len(buf) < len(TokenPrefix)+TokenRandomLen {
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
	buf = appendChecksum(buf, crc32.ChecksumIEEE(buf))
	return string(buf), nil
}

// Digest returns the lowercase hex SHA-256 of a token string, the key under which a store
// keeps the token.
func Digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
