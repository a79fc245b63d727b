package core

import (
	"crypto/sha256"
	"hash/crc32"
	"testing"
)

// sinkInt keeps benchmark results alive so the compiler cannot drop the work.
var sinkInt int

// BenchmarkDecideParts measures the steps of one allow-global decision one by one, so that a
// run under GOOS=wasip1 (see internal/wasirun) shows where the time of the wasm build goes.
func BenchmarkDecideParts(b *testing.B) {
	f := newFixture(b, nil)
	secret := f.tokens[idGlobal].secret
	headers := []Header{
		{"Content-Type", "application/json"},
		f.bearer(b, idGlobal),
		{HeaderScioActAs, "dana@example.com"},
	}
	path := api("/search")
	policy, store := f.validator.policy, f.validator.store
	cache := NewCredentialCache(0, 0)
	cache.get(f.validator, secret)
	cache.add(secret, store.lookup(secret))
	exact := map[string]int{secret: 1}
	token := store.lookup(secret)
	cases := []struct {
		name string
		run  func() int
	}{
		{"sha256-42", func() int { s := sha256.Sum256([]byte(secret)); return int(s[0]) }},
		{"crc32-stdlib-36", func() int { return int(crc32.ChecksumIEEE([]byte(secret[:36]))) }},
		{"crc32-core-36", func() int { return int(crc32String(secret[:36])) }},
		{"check-token-format", func() int {
			if CheckTokenFormat(secret) != nil {
				return 0
			}
			return 1
		}},
		{"store-lookup", func() int { return len(store.lookup(secret).ID) }},
		{"store-map-only", func() int {
			var key [sha256.Size]byte
			key[0] = byte(len(secret))
			return int(store.byDigest[key])
		}},
		{"cache-get", func() int { return len(cache.get(f.validator, secret).ID) }},
		{"map-string-42", func() int { return exact[secret] }},
		{"fnv1a-42", func() int {
			h := uint64(14695981039346656037)
			for i := 0; i < len(secret); i++ {
				h = (h ^ uint64(secret[i])) * 1099511628211
			}
			return int(h & 1)
		}},
		{"token-instants", func() int {
			if !token.RevokedAt.IsZero() && !token.RevokedAt.After(fixtureNow) {
				return 0
			}
			if !token.ExpiresAt.IsZero() && !token.ExpiresAt.Add(policy.spec.ClockSkew).After(fixtureNow) {
				return 0
			}
			return 1
		}},
		{"check-path", func() int {
			if CheckPath(path) {
				return 1
			}
			return 0
		}},
		{"policy-match", func() int { return int(policy.match("POST", path).Scope) }},
		{"read-credential", func() int { c, _ := readCredential(headers); return len(c) }},
		{"read-actas", func() int { return len(readActAs(headers).value) }},
		{"is-bare-address", func() int {
			if IsBareAddress("dana@example.com") {
				return 1
			}
			return 0
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkInt += c.run()
			}
		})
	}
}
