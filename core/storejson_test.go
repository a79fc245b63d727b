package core

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// storeFastSeeds are store files in forms that the fast path accepts and forms where it must
// give up. Each one is checked against encoding/json.
var storeFastSeeds = []string{
	`{"version":1,"tokens":[]}`,
	`{"tokens":[]}`,
	` { "version" : 1 , "tokens" : [ ] } ` + "\n",
	`{"version":1,"tokens":[{"id":"tok_a","digest":"` + strings.Repeat("a", 64) + `","permission":"USER","scopes":["SEARCH","CHAT"],"user":"ann@example.com","expires_at":"2027-01-01T00:00:00Z","created_at":"2026-01-01T10:00:00.5+02:00","created_by":"admin@example.com"}]}`,
	`{"tokens":[{"id":"tok_g","digest":"` + strings.Repeat("b", 64) + `","permission":"GLOBAL","scopes":["SEARCH"],"actas_domains":["example.com"],"revoked_at":"2026-05-01T00:00:00Z"}]}`,
	`{"tokens":[{"id":"tok_g","digest":"` + strings.Repeat("b", 64) + `","permission":"GLOBAL","scopes":["SEARCH"],"actas_domains":[]}]}`,
	`{"tokens":[{"id":"tok_e","digest":"` + strings.Repeat("c", 64) + `","permission":"ANONYMOUS","scopes":["SEARCH"],"description":"caf\u00e9 \"quoted\" \n line"}]}`,
	`{"tokens":[{"id":"tok_u","digest":"` + strings.Repeat("c", 64) + `","permission":"ANONYMOUS","scopes":["SEARCH"],"description":"café ☕"}]}`,
	`{"tokens":[{"id":"tok_x","digest":"` + strings.Repeat("c", 64) + `","permission":"ANONYMOUS","scopes":["SEARCH"],"description":"bad utf8 ` + "\xff" + `"}]}`,
	`{"tokens":[{"ID":"tok_case","digest":"` + strings.Repeat("d", 64) + `","permission":"ANONYMOUS","scopes":["SEARCH"]}]}`,
	`{"tokens":[{"id":"tok_dup","id":"tok_dup2","digest":"` + strings.Repeat("d", 64) + `","permission":"ANONYMOUS","scopes":["SEARCH"]}]}`,
	`{"tokens":[{"id":"tok_unknown","digest":"` + strings.Repeat("d", 64) + `","permission":"ANONYMOUS","scopes":["SEARCH"],"extra":1}]}`,
	`{"tokens":[{"id":"tok_null","digest":null,"permission":"ANONYMOUS","scopes":["SEARCH"]}]}`,
	`{"tokens":[{"id":"tok_perm","digest":"` + strings.Repeat("d", 64) + `","permission":"ROOT","scopes":["SEARCH"]}]}`,
	`{"tokens":[{"id":"tok_scope","digest":"` + strings.Repeat("d", 64) + `","permission":"USER","scopes":["SEARCH","SEARCH"]}]}`,
	`{"tokens":[{"id":"tok_time","digest":"` + strings.Repeat("d", 64) + `","permission":"USER","scopes":["SEARCH"],"expires_at":"2027-01-01 00:00:00"}]}`,
	`{"tokens":[{"id":"tok_zero","digest":"` + strings.Repeat("d", 64) + `","permission":"USER","scopes":["SEARCH"],"revoked_at":"0001-01-01T00:00:00Z"}]}`,
	`{"version":2,"tokens":[]}`,
	`{"version":-1,"tokens":[]}`,
	`{"version":01,"tokens":[]}`,
	`{"version":1.0,"tokens":[]}`,
	`{"version":1e0,"tokens":[]}`,
	`{"version":99999999999999999999,"tokens":[]}`,
	`{"tokens":null}`,
	`{"tokens":[]} {}`,
	`{"tokens":[]}x`,
	`{"tokens":[],}`,
	`{"tokens":[{},]}`,
	`{"tokens":[{}]}`,
	`{"tok\u0065ns":[]}`,
	"\ufeff{\"tokens\":[]}",
	`[]`,
	``,
	`{"tokens":[{"id":"tok_a\`,
	`{"format":1,"digest":"sha256:00"}`,
	`{"format":1,"digest":"sha256:00","content":{"policy":{"endpoints":[]},"tokens":[]}}`,
	`{"format":1,"content":{"policy":{"base_path":"/api","endpoints":[{"method":"POST","path":"/search","scope":"SEARCH"}]},"tokens":[{"id":"tok_b","digest":"` + strings.Repeat("e", 64) + `","permission":"ANONYMOUS","scopes":["SEARCH"]}]}}`,
	`{"format":1,"content":{"policy":{"unknown":true},"tokens":[]}}`,
	`{"format":1,"content":{"policy":null,"tokens":[]}}`,
}

func TestParseStoreFast_MatchesEncodingJSON(t *testing.T) {
	for _, seed := range storeFastSeeds {
		checkStoreFastPath(t, []byte(seed))
	}
}

func TestParseStoreFast_TakesGeneratedStore(t *testing.T) {
	tokens := []Token{
		{ID: "tok_1", Digest: Digest("secret-1"), Permission: PermissionUser, Scopes: NewScopeSet(ScopeSearch),
			User: "ann@example.com", ExpiresAt: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{ID: "tok_2", Digest: Digest("secret-2"), Permission: PermissionGlobal, Scopes: NewScopeSet(ScopeChat),
			ActAsDomains: []string{"example.com"}, Description: "line one\nline \"two\""},
	}
	store, err := NewStore(tokens)
	if err != nil {
		t.Fatal(err)
	}
	data, err := store.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := parseStoreFast(data); !ok {
		t.Fatalf("fast path gave up on the output of Store.MarshalJSON: %s", data)
	}
	checkStoreFastPath(t, data)

	policy, err := NewPolicy(PolicySpec{Endpoints: []Endpoint{{Method: "POST", Path: "/search", Scope: ScopeSearch}}})
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := EncodeBundle(policy, store)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := parseBundleFast(bundle); !ok {
		t.Fatalf("fast path gave up on the output of EncodeBundle: %s", bundle)
	}
	checkBundleFastPath(t, bundle)
}

func FuzzParseStoreFast(f *testing.F) {
	for _, seed := range storeFastSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStoreFastPath(t, data)
		checkBundleFastPath(t, data)
	})
}

// checkStoreFastPath checks that, where the fast path accepts a store file, encoding/json
// accepts it too and the slow path builds a store of the same tokens.
func checkStoreFastPath(t *testing.T, data []byte) {
	t.Helper()
	version, fast, ok := parseStoreFast(data)
	if !ok {
		return
	}
	var slow storeFile
	if err := decodeStrict(data, &slow); err != nil {
		t.Fatalf("fast path accepted %q, encoding/json rejects it: %v", data, err)
	}
	if version != slow.Version {
		t.Fatalf("fast path read version %d from %q, encoding/json %d", version, data, slow.Version)
	}
	checkSameStore(t, data, fast, slow.Tokens)
}

// checkSameStore checks that the slow path builds a valid store from tokens and that fast
// holds the same tokens, indexed the same way.
func checkSameStore(t *testing.T, data []byte, fast *Store, tokens []Token) {
	t.Helper()
	slow, err := newStoreOwning(tokens)
	if err != nil {
		t.Fatalf("fast path built a store from %q, the slow path rejects it: %v", data, err)
	}
	if !reflect.DeepEqual(fast.tokens, slow.tokens) && !(len(fast.tokens) == 0 && len(slow.tokens) == 0) {
		t.Fatalf("fast path decoded %q as\n%+v\nthe slow path as\n%+v", data, fast.tokens, slow.tokens)
	}
	if !reflect.DeepEqual(fast.byDigest, slow.byDigest) {
		t.Fatalf("fast path indexed %q as %v, the slow path as %v", data, fast.byDigest, slow.byDigest)
	}
}

// checkBundleFastPath is checkStoreFastPath for bundle files.
func checkBundleFastPath(t *testing.T, data []byte) {
	t.Helper()
	fastFile, fastPolicy, fastStore, ok := parseBundleFast(data)
	if !ok {
		return
	}
	var slowFile bundleFile
	if err := decodeStrict(data, &slowFile); err != nil {
		t.Fatalf("fast path accepted bundle %q, encoding/json rejects it: %v", data, err)
	}
	if fastFile.Format != slowFile.Format || fastFile.Digest != slowFile.Digest || !bytes.Equal(fastFile.Content, slowFile.Content) {
		t.Fatalf("fast path read bundle %q as format %d digest %q content %q; encoding/json as %d %q %q",
			data, fastFile.Format, fastFile.Digest, fastFile.Content, slowFile.Format, slowFile.Digest, slowFile.Content)
	}
	var slowContent bundleContent
	if len(slowFile.Content) == 0 {
		// DecodeBundle rejects a bundle without content before it reads any.
		return
	}
	if err := decodeStrict(slowFile.Content, &slowContent); err != nil {
		t.Fatalf("fast path accepted bundle content %q, encoding/json rejects it: %v", slowFile.Content, err)
	}
	if !reflect.DeepEqual(fastPolicy, slowContent.Policy) {
		t.Fatalf("fast path decoded the policy of %q as\n%+v\nencoding/json as\n%+v", data, fastPolicy, slowContent.Policy)
	}
	checkSameStore(t, data, fastStore, slowContent.Tokens)
}

// largeStoreFile returns a store file of n tokens. Tokens from index long on have a long
// description, which makes the record-count estimate of the fast path too high.
func largeStoreFile(t *testing.T, n, long int, dupDigestAt int) []byte {
	t.Helper()
	tokens := make([]Token, n)
	for i := range tokens {
		tokens[i] = Token{
			ID: "tok_" + strconv.Itoa(i), Digest: Digest("secret-" + strconv.Itoa(i)),
			Permission: PermissionAnonymous, Scopes: NewScopeSet(ScopeSearch),
		}
		if i >= long {
			tokens[i].Description = strings.Repeat("a \"quoted\" note ", 40)
		}
	}
	if dupDigestAt > 0 {
		tokens[dupDigestAt].Digest = tokens[0].Digest
	}
	data, err := json.Marshal(storeFile{Version: StoreFormatVersion, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseStoreFast_LargeStore(t *testing.T) {
	cases := []struct {
		name    string
		n, long int
	}{
		{"uniform records", 300, 0},
		{"long records after the sample", 300, sampleRecords},
		{"fewer records than the sample", sampleRecords - 1, 0},
		{"exactly the sample", sampleRecords, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := largeStoreFile(t, c.n, c.long, 0)
			_, s, ok := parseStoreFast(data)
			if !ok {
				t.Fatal("fast path gave up on a valid store file")
			}
			if s.Len() != c.n {
				t.Fatalf("store has %d tokens, expected %d", s.Len(), c.n)
			}
			checkStoreFastPath(t, data)
		})
	}
}

func TestParseStore_DuplicateAfterSample(t *testing.T) {
	data := largeStoreFile(t, 300, 0, 200)
	if _, _, ok := parseStoreFast(data); ok {
		t.Fatal("fast path accepted a store with a duplicate digest")
	}
	_, err := ParseStore(data)
	if err == nil || !strings.Contains(err.Error(), "token tok_200: duplicate digest") {
		t.Fatalf("error = %v, expected the duplicate digest of tok_200", err)
	}
}
