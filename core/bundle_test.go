package core

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fixtureBundle returns the bundle of the fixture's policy and store.
func fixtureBundle(tb testing.TB, f *fixture) []byte {
	tb.Helper()
	data, err := EncodeBundle(f.validator.Policy(), f.validator.Store())
	if err != nil {
		tb.Fatalf("EncodeBundle: %v", err)
	}
	return data
}

// sealBundle wraps content in a bundle file of the given format with a correct digest.
func sealBundle(format int, content string) []byte {
	sum := sha256.Sum256([]byte(content))
	return []byte(`{"format":` + jsonInt(format) + `,"digest":"sha256:` + hex.EncodeToString(sum[:]) + `","content":` + content + `}`)
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestEncodeBundle_RoundTrip(t *testing.T) {
	spec := defaultSpec()
	spec.ClockSkew = 90 * time.Second
	spec.StripCredential = true
	spec.Realm = "corp"
	f := newFixture(t, &spec)
	data := fixtureBundle(t, f)
	for _, tok := range f.tokens {
		if bytes.Contains(data, []byte(tok.secret)) {
			t.Errorf("bundle contains the secret of %s", tok.token.ID)
		}
	}

	v, info, err := DecodeBundle(data)
	if err != nil {
		t.Fatalf("DecodeBundle: %v", err)
	}
	if info.Format != BundleFormatVersion {
		t.Errorf("info.Format = %d, want %d", info.Format, BundleFormatVersion)
	}
	if info.Tokens != len(f.tokens) {
		t.Errorf("info.Tokens = %d, want %d", info.Tokens, len(f.tokens))
	}
	if info.Endpoints != len(spec.Endpoints) {
		t.Errorf("info.Endpoints = %d, want %d", info.Endpoints, len(spec.Endpoints))
	}
	if !strings.HasPrefix(info.Digest, "sha256:") || len(info.Digest) != len("sha256:")+64 {
		t.Errorf("info.Digest = %q, want sha256: and 64 hex digits", info.Digest)
	}
	if got := v.Policy().Spec(); !reflect.DeepEqual(got, f.validator.Policy().Spec()) {
		t.Errorf("decoded spec = %+v, want %+v", got, f.validator.Policy().Spec())
	}
	checkSameTokens(t, v.Store(), f.validator.Store())

	again, err := EncodeBundle(v.Policy(), v.Store())
	if err != nil {
		t.Fatalf("EncodeBundle(decoded): %v", err)
	}
	if !bytes.Equal(again, data) {
		t.Errorf("re-encoded bundle differs:\n%s\nwant\n%s", again, data)
	}
}

func TestDecodeBundle_SameDecisions(t *testing.T) {
	f := newFixture(t, nil)
	v, _, err := DecodeBundle(fixtureBundle(t, f))
	if err != nil {
		t.Fatalf("DecodeBundle: %v", err)
	}
	for id := range f.tokens {
		for _, path := range []string{"/search", "/chat", "/listpins", "/getdocuments"} {
			for _, actAs := range []string{"", "dana@example.com"} {
				req := Request{Method: "POST", Path: api(path), Headers: []Header{f.bearer(t, id), {HeaderScioActAs, actAs}}}
				want := f.validator.Decide(req, fixtureNow)
				if got := v.Decide(req, fixtureNow); got != want {
					t.Errorf("%s %s act-as %q: bundle decision %+v, want %+v", id, path, actAs, got, want)
				}
			}
		}
	}
}

func TestDecodeBundle_Errors(t *testing.T) {
	f := newFixture(t, nil)
	good := fixtureBundle(t, f)
	var file bundleFile
	if err := json.Unmarshal(good, &file); err != nil {
		t.Fatalf("decode fixture bundle: %v", err)
	}
	content := string(file.Content)
	altered := bytes.Replace(good, []byte(`"realm":"glean"`), []byte(`"realm":"gleam"`), 1)
	if bytes.Equal(altered, good) {
		t.Fatalf("fixture bundle has no realm to alter")
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "bundle: EOF"},
		{"not json", []byte("format: 1"), "bundle: invalid character"},
		{"truncated", good[:len(good)/2], "bundle: unexpected EOF"},
		{"truncated by one byte", good[:len(good)-1], "bundle: unexpected EOF"},
		{"trailing data", append(append([]byte(nil), good...), []byte(`{}`)...), "unexpected data after the JSON value"},
		{"format zero", sealBundle(0, content), "format version 0 is not supported"},
		{"format two", sealBundle(2, content), "format version 2 is not supported"},
		{"format missing", []byte(`{"digest":"` + file.Digest + `","content":` + content + `}`), "format version 0 is not supported"},
		{"unknown field", []byte(`{"format":1,"digest":"` + file.Digest + `","content":` + content + `,"signature":"x"}`), `unknown field "signature"`},
		{"missing content", []byte(`{"format":1,"digest":"` + file.Digest + `"}`), "bundle: missing content"},
		{"digest mismatch", altered, "does not match the content"},
		{"digest missing", []byte(`{"format":1,"content":` + content + `}`), `digest "" does not match`},
		{"digest of another hash", []byte(`{"format":1,"digest":"` + strings.Replace(file.Digest, "sha256:", "sha512:", 1) + `","content":` + content + `}`), "does not match the content"},
		{"digest in upper case", []byte(`{"format":1,"digest":"sha256:` + strings.ToUpper(strings.TrimPrefix(file.Digest, "sha256:")) + `","content":` + content + `}`), "does not match the content"},
		{"content not an object", sealBundle(1, `[]`), "bundle: content:"},
		{"unknown content field", sealBundle(1, `{"policy":{"endpoints":[]},"tokens":[],"comment":"x"}`), `unknown field "comment"`},
		{"invalid policy", sealBundle(1, `{"policy":{"endpoints":[{"method":"post","path":"/search","scope":"SEARCH"}]},"tokens":[]}`), `bundle: policy: endpoint post /search: method "post"`},
		{"negative clock skew", sealBundle(1, `{"policy":{"clock_skew":"-1s","endpoints":[]},"tokens":[]}`), "bundle: policy: clock skew -1s is negative"},
		{"unparsable clock skew", sealBundle(1, `{"policy":{"clock_skew":"soon","endpoints":[]},"tokens":[]}`), `clock_skew: time: invalid duration "soon"`},
		{"unknown scope in policy", sealBundle(1, `{"policy":{"endpoints":[{"method":"POST","path":"/x","scope":"DOCS"}]},"tokens":[]}`), `unknown scope "DOCS"`},
		{"invalid token", sealBundle(1, `{"policy":{"endpoints":[]},"tokens":[{"id":"tok_a","digest":"`+digestA+`","permission":"USER","scopes":["SEARCH"]}]}`), "bundle: store: token 0: token tok_a: USER token needs a user email"},
		{"duplicate token", sealBundle(1, `{"policy":{"endpoints":[]},"tokens":[{`+userToken("tok_a", digestA)+`},{`+userToken("tok_a", digestB)+`}]}`), `duplicate id "tok_a"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, info, err := DecodeBundle(c.data)
			if err == nil {
				t.Fatalf("DecodeBundle succeeded, want an error containing %q", c.want)
			}
			if v != nil {
				t.Errorf("DecodeBundle returned a validator with the error")
			}
			if info != (BundleInfo{}) {
				t.Errorf("DecodeBundle returned info %+v with the error", info)
			}
			if !strings.HasPrefix(err.Error(), "bundle: ") {
				t.Errorf("error %q does not start with %q", err, "bundle: ")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// checkSameTokens compares the token records of two stores, in order.
func checkSameTokens(t *testing.T, got, want *Store) {
	t.Helper()
	g, w := got.Tokens(), want.Tokens()
	if len(g) != len(w) {
		t.Fatalf("store has %d tokens, want %d", len(g), len(w))
	}
	for i := range w {
		if !tokensEqual(g[i], w[i]) {
			t.Errorf("token %d = %+v, want %+v", i, g[i], w[i])
		}
	}
}
