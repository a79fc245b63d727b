package core

import (
	"bytes"
	"crypto/rand"
	"errors"
	"hash/crc32"
	"io"
	"math/big"
	mathrand "math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// Token vectors whose checksums were computed with Python's zlib.crc32, an implementation
// independent of this package and of Go's hash/crc32.
const (
	vectorZeros   = "glean_000000000000000000000000000000" + "4LyLie"
	vectorLetters = "glean_ABCDEFGHIJKLMNOPQRSTUVWXYZabcd" + "17pqHQ"
	vectorPadded  = "glean_000000000000000000000000d20000" + "0074Vx" // CRC 1685653, two zero digits
)

// referenceChecksum encodes the CRC-32 of body in base62 with math/big, translating its
// alphabet (lower case before upper case) to the token alphabet, and pads it with '0'.
func referenceChecksum(body string) string {
	const bigDigits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	text := new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(body)))).Text(62)
	var out strings.Builder
	for range TokenChecksumLen - len(text) {
		out.WriteByte('0')
	}
	for i := 0; i < len(text); i++ {
		out.WriteByte(base62[strings.IndexByte(bigDigits, text[i])])
	}
	return out.String()
}

func TestCheckTokenFormat_Vectors(t *testing.T) {
	for _, token := range []string{vectorZeros, vectorLetters, vectorPadded} {
		if err := CheckTokenFormat(token); err != nil {
			t.Errorf("CheckTokenFormat(%q) = %v, want nil", token, err)
		}
		body := token[:TokenLen-TokenChecksumLen]
		if got := TokenChecksum(body); got != token[len(body):] {
			t.Errorf("TokenChecksum(%q) = %q, want %q", body, got, token[len(body):])
		}
		if got := referenceChecksum(body); got != token[len(body):] {
			t.Errorf("referenceChecksum(%q) = %q, want %q", body, got, token[len(body):])
		}
	}
}

func TestCheckTokenFormat_Errors(t *testing.T) {
	body := vectorZeros[:TokenLen-TokenChecksumLen]
	random := body[len(TokenPrefix):]
	replace := func(s string, i int, c byte) string {
		b := []byte(s)
		b[i] = c
		return string(b)
	}
	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrTokenPrefix},
		{"prefix only", TokenPrefix, ErrTokenLength},
		{"no prefix", random + "4LyLie", ErrTokenPrefix},
		{"upper-case prefix", "GLEAN_" + random + "4LyLie", ErrTokenPrefix},
		{"prefix without underscore", "glean" + random + "4LyLie", ErrTokenPrefix},
		{"one character short", vectorZeros[:TokenLen-1], ErrTokenLength},
		{"one character long", vectorZeros + "0", ErrTokenLength},
		{"checksum dropped", body, ErrTokenLength},
		{"zero padding dropped", strings.Replace(vectorPadded, "0074Vx", "074Vx", 1), ErrTokenLength},
		{"dash in random part", replace(vectorZeros, 10, '-'), ErrTokenAlphabet},
		{"underscore in random part", replace(vectorZeros, 10, '_'), ErrTokenAlphabet},
		{"plus in random part", replace(vectorZeros, 6, '+'), ErrTokenAlphabet},
		{"slash in random part", replace(vectorZeros, 35, '/'), ErrTokenAlphabet},
		{"equals in checksum", replace(vectorZeros, TokenLen-1, '='), ErrTokenAlphabet},
		{"dot in checksum", replace(vectorZeros, TokenLen-6, '.'), ErrTokenAlphabet},
		{"space in random part", replace(vectorZeros, 20, ' '), ErrTokenAlphabet},
		{"non-ascii byte", replace(vectorZeros, 20, 0xC3), ErrTokenAlphabet},
		{"checksum off by one", replace(vectorZeros, TokenLen-1, 'f'), ErrTokenChecksum},
		{"checksum case swapped", "glean_000000000000000000000000000000" + "4lYlIE", ErrTokenChecksum},
		{"random part changed", replace(vectorZeros, 20, '1'), ErrTokenChecksum},
		{"checksum of random part only", body + referenceChecksum(random), ErrTokenChecksum},
		{"checksum above 32 bits", body + "zzzzzz", ErrTokenChecksum},
		{"checksum without padding, shifted", "glean_000000000000000000000000d20000" + "074Vx0", ErrTokenChecksum},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := CheckTokenFormat(c.token); !errors.Is(err, c.want) {
				t.Errorf("CheckTokenFormat(%q) = %v, want %v", c.token, err, c.want)
			}
		})
	}
}

func TestTokenChecksum_ZeroPadding(t *testing.T) {
	// Search deterministically for bodies whose CRC needs one and two leading zero digits.
	rng := mathrand.New(mathrand.NewChaCha8([32]byte{7}))
	found := map[int]bool{}
	for i := 0; i < 100000 && len(found) < 2; i++ {
		var b strings.Builder
		b.WriteString(TokenPrefix)
		for range TokenRandomLen {
			b.WriteByte(base62[rng.IntN(62)])
		}
		body := b.String()
		sum := crc32.ChecksumIEEE([]byte(body))
		zeros := 0
		switch {
		case sum < 62*62*62*62:
			zeros = 2
		case sum < 62*62*62*62*62:
			zeros = 1
		default:
			continue
		}
		if found[zeros] {
			continue
		}
		found[zeros] = true
		got := TokenChecksum(body)
		if len(got) != TokenChecksumLen {
			t.Errorf("TokenChecksum(%q) = %q, want %d characters", body, got, TokenChecksumLen)
		}
		if !strings.HasPrefix(got, strings.Repeat("0", zeros)) {
			t.Errorf("TokenChecksum(%q) = %q for CRC %d, want %d leading zeros", body, got, sum, zeros)
		}
		if want := referenceChecksum(body); got != want {
			t.Errorf("TokenChecksum(%q) = %q, want %q", body, got, want)
		}
		if err := CheckTokenFormat(body + got); err != nil {
			t.Errorf("CheckTokenFormat(%q) = %v, want nil", body+got, err)
		}
	}
	if !found[1] || !found[2] {
		t.Fatalf("found padded checksums %v, want both one and two zeros", found)
	}
}

func TestCRC32String_MatchesHashCRC32(t *testing.T) {
	rng := mathrand.New(mathrand.NewChaCha8([32]byte{3}))
	for n := range 80 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if got, want := crc32String(string(b)), crc32.ChecksumIEEE(b); got != want {
			t.Errorf("crc32String(%x) = %#x, want %#x", b, got, want)
		}
	}
}

func TestMintToken_AlwaysWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		token, err := MintToken(rand.Reader)
		if err != nil {
			t.Fatalf("MintToken: %v", err)
		}
		if len(token) != TokenLen {
			t.Fatalf("MintToken = %q, want %d characters", token, TokenLen)
		}
		if !strings.HasPrefix(token, TokenPrefix) {
			t.Fatalf("MintToken = %q, want prefix %q", token, TokenPrefix)
		}
		if err := CheckTokenFormat(token); err != nil {
			t.Fatalf("CheckTokenFormat(MintToken()) = %v for %q", err, token)
		}
		if seen[token] {
			t.Fatalf("MintToken returned %q twice", token)
		}
		seen[token] = true
	}
}

func TestMintToken_UsesWholeAlphabet(t *testing.T) {
	counts := map[byte]int{}
	for range 500 {
		token, err := MintToken(rand.Reader)
		if err != nil {
			t.Fatalf("MintToken: %v", err)
		}
		for i := len(TokenPrefix); i < len(TokenPrefix)+TokenRandomLen; i++ {
			counts[token[i]]++
		}
	}
	// 15000 draws from 62 characters: each appears about 242 times. A missing or rare
	// character means a broken alphabet mapping; the bound is loose enough never to flake.
	for i := 0; i < len(base62); i++ {
		if n := counts[base62[i]]; n < 120 {
			t.Errorf("character %q drawn %d times in 15000, want about 242", base62[i], n)
		}
	}
}

func TestMintToken_SkipsBiasedBytes(t *testing.T) {
	// Bytes 248 to 255 would favour the first eight digits, so MintToken skips them.
	src := make([]byte, 0, 64)
	for i := range 30 {
		src = append(src, 248+byte(i%8), byte(i))
	}
	src = append(src, make([]byte, 64-len(src))...)
	token, err := MintToken(bytes.NewReader(src))
	if err != nil {
		t.Fatalf("MintToken: %v", err)
	}
	if want := TokenPrefix + base62[:TokenRandomLen]; token[:len(want)] != want {
		t.Errorf("MintToken = %q, want random part %q", token, want[len(TokenPrefix):])
	}
	if err := CheckTokenFormat(token); err != nil {
		t.Errorf("CheckTokenFormat(%q) = %v", token, err)
	}
}

func TestMintToken_ShortReads(t *testing.T) {
	token, err := MintToken(iotest.OneByteReader(rand.Reader))
	if err != nil {
		t.Fatalf("MintToken(one-byte reader): %v", err)
	}
	if err := CheckTokenFormat(token); err != nil {
		t.Errorf("CheckTokenFormat(%q) = %v", token, err)
	}
}

// repeatReader returns the byte b forever.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func TestMintToken_FailingReader(t *testing.T) {
	broken := errors.New("entropy device unplugged")
	cases := []struct {
		name   string
		random io.Reader
		wantIs error
	}{
		{"reader error", iotest.ErrReader(broken), broken},
		{"error after some bytes", io.MultiReader(bytes.NewReader([]byte{1, 2, 3}), iotest.ErrReader(broken)), broken},
		{"empty reader", bytes.NewReader(nil), io.EOF},
		{"short reader", bytes.NewReader(make([]byte, 20)), io.ErrUnexpectedEOF},
		{"only biased bytes", repeatReader(0xFF), nil},
		{"too few usable bytes", io.MultiReader(bytes.NewReader(make([]byte, 10)), repeatReader(0xF8)), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			token, err := MintToken(c.random)
			if err == nil {
				t.Fatalf("MintToken = %q, want an error", token)
			}
			if token != "" {
				t.Errorf("MintToken returned %q with the error, want empty", token)
			}
			if !strings.HasPrefix(err.Error(), "mint token: ") {
				t.Errorf("error %q does not start with %q", err, "mint token: ")
			}
			if c.wantIs != nil && !errors.Is(err, c.wantIs) {
				t.Errorf("error %v does not wrap %v", err, c.wantIs)
			}
		})
	}
}

func TestDigest_LowercaseHexSHA256(t *testing.T) {
	// The SHA-256 of "abc" from FIPS 180-2, appendix B.1.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := Digest("abc"); got != want {
		t.Errorf("Digest(abc) = %s, want %s", got, want)
	}
}
