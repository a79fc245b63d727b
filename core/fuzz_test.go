package core

import (
	"bytes"
	"encoding/json"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Fuzz inputs carry a header list as one string: fields separated by "\n", each field's name
// before its first ':' and the value, untrimmed, after it. A field without ':' has an empty
// value.

// decodeHeaderLines returns the header list of a fuzz input.
func decodeHeaderLines(s string) []Header {
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	out := make([]Header, len(lines))
	for i, line := range lines {
		name, value, _ := strings.Cut(line, ":")
		out[i] = Header{Name: name, Value: value}
	}
	return out
}

// encodeHeaderLines returns the fuzz input of a header list. It reports false for a list the
// encoding cannot carry: a name with ':' or '\n', or a value with '\n'.
func encodeHeaderLines(headers []Header) (string, bool) {
	lines := make([]string, len(headers))
	for i, h := range headers {
		if strings.ContainsAny(h.Name, ":\n") || strings.Contains(h.Value, "\n") {
			return "", false
		}
		lines[i] = h.Name + ":" + h.Value
	}
	return strings.Join(lines, "\n"), true
}

// The oracles below restate the decision model's rules with the standard library, written
// apart from the code under test so that a fuzzer can find where the two disagree.

// lowerASCII lowers the ASCII letters of s and leaves every other byte as it is.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// nonBlankValues returns the values of the fields named one of names (lower case), trimmed of
// spaces and tabs, without the empty ones.
func nonBlankValues(headers []Header, names ...string) []string {
	var out []string
	for _, h := range headers {
		for _, n := range names {
			if lowerASCII(h.Name) == n {
				if v := strings.Trim(h.Value, " \t"); v != "" {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

var token68Pattern = regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)

// oracleCredential returns the bearer credential or the reason the credential check fails.
func oracleCredential(headers []Header) (string, Reason) {
	values := nonBlankValues(headers, "authorization")
	switch {
	case len(values) == 0:
		return "", ReasonMissingToken
	case len(values) > 1:
		return "", ReasonMultipleAuthorization
	}
	scheme, rest := values[0], ""
	if i := strings.IndexAny(values[0], " \t"); i >= 0 {
		scheme, rest = values[0][:i], values[0][i:]
	}
	if lowerASCII(scheme) != "bearer" {
		return "", ReasonUnsupportedScheme
	}
	cred := strings.Trim(rest, " \t")
	if len(cred) > MaxCredentialLen || !token68Pattern.MatchString(cred) {
		return "", ReasonMalformedAuthorization
	}
	return cred, ReasonOK
}

// oracleActAs returns the first act-as value and whether the values disagree.
func oracleActAs(headers []Header) actAs {
	values := nonBlankValues(headers, "x-scio-actas", "x-glean-actas")
	distinct := map[string]bool{}
	for _, v := range values {
		distinct[lowerASCII(v)] = true
	}
	out := actAs{ambiguous: len(distinct) > 1}
	if len(values) > 0 {
		out.value = values[0]
	}
	return out
}

// oracleCheckPath applies the path rule of the decision model word by word.
func oracleCheckPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c > 0x7E || c == '\\' || c == '#' {
			return false
		}
	}
	lower := strings.ToLower(p) // ASCII only, as every byte above 0x7E was rejected
	for _, encoded := range []string{"%2f", "%5c", "%2e"} {
		if strings.Contains(lower, encoded) {
			return false
		}
	}
	return true
}

// tokenStage lists the reasons decided at or after the token check, which carry the token.
var tokenStage = map[Reason]bool{
	ReasonRevokedToken: true, ReasonExpiredToken: true, ReasonAmbiguousActAs: true,
	ReasonActAsRequired: true, ReasonActAsInvalid: true, ReasonActAsDomainForbidden: true,
	ReasonActAsForbidden: true, ReasonEndpointUnmapped: true, ReasonAnonymousNotAllowed: true,
	ReasonScopeMissing: true, ReasonOK: true,
}

// checkDecideInvariants checks d, the decision of v for req at now, against the oracles.
func checkDecideInvariants(t *testing.T, v *Validator, req Request, now time.Time, d Decision) {
	t.Helper()
	if !d.Reason.Valid() {
		t.Fatalf("invalid reason %d", d.Reason)
	}
	if d.Status != d.Reason.Status() || d.Allow != (d.Status == 200) || d.Error != d.Reason.ErrorCode() {
		t.Fatalf("decision %+v: status, allow and error do not follow from the reason", d)
	}

	target, _, _ := strings.Cut(req.Path, "?")
	if pathOK := oracleCheckPath(target); pathOK != (d.Reason != ReasonMalformedPath) {
		t.Fatalf("path %q: oracle says valid=%v, decision %s", target, pathOK, d.Reason)
	}

	credential, credReason := oracleCredential(req.Headers)
	if tokenStage[d.Reason] != (d.TokenID != "") {
		t.Fatalf("reason %s with token id %q: the token id is set exactly from the token check on", d.Reason, d.TokenID)
	}
	var token Token
	if d.TokenID != "" {
		var ok bool
		if token, ok = v.Store().ByID(d.TokenID); !ok {
			t.Fatalf("decision names token %q, which is not in the store", d.TokenID)
		}
		if credReason != ReasonOK || Digest(credential) != token.Digest {
			t.Fatalf("decision names token %q, but the request does not send its secret", d.TokenID)
		}
		if d.Permission != token.Permission {
			t.Fatalf("permission %s, token has %s", d.Permission, token.Permission)
		}
	}

	if !d.Allow {
		return
	}
	switch d.Reason {
	case ReasonCORSPreflight:
		if req.Method != "OPTIONS" || len(nonBlankValues(req.Headers, "origin")) == 0 ||
			len(nonBlankValues(req.Headers, "access-control-request-method")) == 0 {
			t.Fatalf("cors_preflight for a request that is not a preflight: %+v", req)
		}
		if !v.Policy().Spec().AllowCORSPreflight {
			t.Fatalf("cors_preflight although the policy does not allow preflights")
		}
	case ReasonPublicEndpoint:
		if e, ok := v.Policy().Match(req.Method, target); !ok || !e.Public {
			t.Fatalf("public_endpoint for %s %s, which is not a public endpoint", req.Method, target)
		}
	case ReasonOK:
		checkOKInvariants(t, v, req, target, now, d, token)
	default:
		t.Fatalf("allowed with reason %s", d.Reason)
	}
}

// checkOKInvariants checks an ok decision: a live store token with the endpoint's scope and
// the act-as rules of its permission.
func checkOKInvariants(t *testing.T, v *Validator, req Request, target string, now time.Time, d Decision, token Token) {
	t.Helper()
	if !token.RevokedAt.IsZero() && !now.Before(token.RevokedAt) {
		t.Fatalf("ok for token %s revoked at %s, now %s", token.ID, token.RevokedAt, now)
	}
	if !token.ExpiresAt.IsZero() && !now.Before(token.ExpiresAt.Add(v.Policy().Spec().ClockSkew)) {
		t.Fatalf("ok for token %s expired at %s, now %s", token.ID, token.ExpiresAt, now)
	}
	e, ok := v.Policy().Match(req.Method, target)
	if !ok {
		t.Fatalf("ok for %s %s, which no endpoint matches", req.Method, target)
	}
	if !token.Scopes.Has(e.Scope) || d.Scope != e.Scope {
		t.Fatalf("ok with scope %s for endpoint %s of scope %s, token scopes %s", d.Scope, e, e.Scope, token.Scopes)
	}
	actAs := nonBlankValues(req.Headers, "x-scio-actas", "x-glean-actas")
	switch token.Permission {
	case PermissionGlobal:
		if len(actAs) == 0 || d.Principal != lowerASCII(actAs[0]) || !IsBareAddress(d.Principal) {
			t.Fatalf("ok for GLOBAL token with principal %q from act-as %q", d.Principal, actAs)
		}
		for _, a := range actAs {
			if lowerASCII(a) != d.Principal {
				t.Fatalf("ok although the act-as values %q disagree", actAs)
			}
		}
		if len(token.ActAsDomains) > 0 {
			_, domain, _ := strings.Cut(d.Principal, "@")
			found := false
			for _, allowed := range token.ActAsDomains {
				found = found || domain == allowed
			}
			if !found {
				t.Fatalf("ok for domain %q outside %q", domain, token.ActAsDomains)
			}
		}
	case PermissionUser:
		if len(actAs) > 0 || d.Principal != token.User {
			t.Fatalf("ok for USER token with principal %q and act-as %q", d.Principal, actAs)
		}
	case PermissionAnonymous:
		if len(actAs) > 0 || d.Principal != "" || !e.Anonymous {
			t.Fatalf("ok for ANONYMOUS token on %s (anonymous %v) with act-as %q", e, e.Anonymous, actAs)
		}
	}
}

// FuzzDecide decides random requests on the default policy with the conformance tokens, and
// checks the decision against the oracles, against a second call, against the validator
// decoded from the bundle and against cached calls. The seeds in testdata/fuzz/FuzzDecide are
// the conformance cases.
func FuzzDecide(f *testing.F) {
	_, store := readConformance(f)
	v := NewValidator(newDefaultPolicy(f), store)
	bundle, err := EncodeBundle(v.Policy(), v.Store())
	if err != nil {
		f.Fatalf("EncodeBundle: %v", err)
	}
	fromBundle, _, err := DecodeBundle(bundle)
	if err != nil {
		f.Fatalf("DecodeBundle: %v", err)
	}
	// One fuzzing process calls the fuzz function for one input at a time, so its inputs can
	// share this cache, which is not safe for concurrent use.
	cache := NewCredentialCache(64, 0)
	f.Fuzz(func(t *testing.T, method, target, headerLines string, unixNano int64) {
		now := time.Unix(0, unixNano).UTC()
		req := Request{Method: method, Path: target, Headers: decodeHeaderLines(headerLines)}
		d := v.Decide(req, now)
		checkDecideInvariants(t, v, req, now, d)
		again := Request{Method: method, Path: target, Headers: decodeHeaderLines(headerLines)}
		if d2 := v.Decide(again, now); d2 != d {
			t.Fatalf("second decision %+v differs from %+v", d2, d)
		}
		if d3 := fromBundle.Decide(req, now); d3 != d {
			t.Fatalf("bundle validator decided %+v, native %+v", d3, d)
		}
		// The cache lives across inputs, so it holds the credentials of earlier ones too. The
		// second cached call hits when the first one added the credential, and the call on the
		// bundle validator swaps the cache to another validator.
		for i, cached := range []*Validator{v, v, fromBundle} {
			if d4 := cached.DecideCached(req, now, cache); d4 != d {
				t.Fatalf("cached call %d decided %+v, uncached %+v", i, d4, d)
			}
		}
	})
}

func FuzzReadCredential(f *testing.F) {
	for _, s := range []string{
		"", "Authorization:Bearer " + vectorZeros, "authorization:  bearer\tabc==  ",
		"Authorization:Basic YTpi", "Authorization:Bearer a b", "Authorization:Bearer",
		"Authorization:\nAuthorization:Bearer x", "Authorization:Bearer x\nAUTHORIZATION:Bearer y",
		"Authorization:Bearer =", "Authorization:Bearer a=b", "Proxy-Authorization:Bearer x",
		"Authorization:Bearer " + strings.Repeat("a", MaxCredentialLen+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, headerLines string) {
		headers := decodeHeaderLines(headerLines)
		cred, reason := readCredential(headers)
		wantCred, wantReason := oracleCredential(headers)
		if reason != wantReason || cred != wantCred {
			t.Fatalf("readCredential = %q, %s; oracle %q, %s", cred, reason, wantCred, wantReason)
		}
	})
}

func FuzzReadActAs(f *testing.F) {
	for _, s := range []string{
		"", "X-Scio-ActAs:a@b.c", "x-glean-actas: a@b.c \t", "X-Scio-ActAs:\nX-Glean-ActAs:a@b.c",
		"X-Scio-ActAs:A@B.C\nX-Glean-ActAs:a@b.c", "X-Scio-ActAs:a@b.c\nX-Scio-ActAs:d@b.c",
		"X_Scio_ActAs:a@b.c", "X-Scio-ActAs:\xc3\xa9@b.c\nX-Glean-ActAs:\xc3\x89@b.c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, headerLines string) {
		headers := decodeHeaderLines(headerLines)
		if got, want := readActAs(headers), oracleActAs(headers); got != want {
			t.Fatalf("readActAs = %+v, oracle %+v", got, want)
		}
	})
}

func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{
		"/", "/rest/api/v1/search", "/rest/api/v1/search/", "/a//b", "/a/./b", "/a/../b", "/a/.b",
		"/a%2Fb", "/a%2fb", "/a%5C", "/a%2e", "/%41", "/a%", "/a%2", "/a\\b", "/a#b", "/a\x00",
		"/a\x7f", "/\xc3\xa9", "", "a", "/..", "/.%2e", "/a%252e",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		ok := CheckPath(p)
		if want := oracleCheckPath(p); ok != want {
			t.Fatalf("CheckPath(%q) = %v, oracle %v", p, ok, want)
		}
		if !ok {
			return
		}
		// An accepted path is already clean, so a backend that cleans paths or decodes
		// them once reaches the endpoint the validator matched.
		cleaned := path.Clean(p)
		if want := strings.TrimSuffix(p, "/"); p != "/" && cleaned != want {
			t.Fatalf("path.Clean(%q) = %q, want %q", p, cleaned, want)
		}
		decoded, err := url.PathUnescape(p)
		if err != nil {
			return
		}
		if strings.Count(decoded, "/") != strings.Count(p, "/") || strings.Contains(decoded, `\`) {
			t.Fatalf("decoding %q gives %q, which has other separators", p, decoded)
		}
		for _, seg := range strings.Split(decoded, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("decoding %q gives the dot segment %q", p, seg)
			}
		}
	})
}

// FuzzDecodeBundle decodes random bundles. With seal set, the input is the content member and
// the fuzz function wraps it in a bundle with the right digest, so that mutations reach the
// policy and token checks behind the digest.
func FuzzDecodeBundle(f *testing.F) {
	fx := newFixture(f, nil)
	good := fixtureBundle(f, fx)
	var file bundleFile
	if err := json.Unmarshal(good, &file); err != nil {
		f.Fatalf("decode fixture bundle: %v", err)
	}
	skew := defaultSpec()
	skew.ClockSkew = time.Minute
	skew.Endpoints = append(skew.Endpoints, Endpoint{Method: "GET", Path: "/status", Public: true})
	for _, seed := range [][]byte{
		good,
		fixtureBundle(f, newFixture(f, &skew)),
		good[:len(good)/2],
		bytes.Replace(good, []byte(`"realm":"glean"`), []byte(`"realm":"gleam"`), 1),
		sealBundle(2, `{}`),
		[]byte(`{}`),
		nil,
	} {
		f.Add(seed, false)
	}
	for _, content := range []string{
		string(file.Content),
		`{"policy":{"endpoints":[]},"tokens":[]}`,
		`{"policy":{"clock_skew":"1h","endpoints":[{"method":"GET","path":"/a/{b}","scope":"PEOPLE","anonymous":true}]},"tokens":[]}`,
		`{"policy":{"endpoints":[]},"tokens":[{` + userToken("tok_a", digestA, `"expires_at":"2027-01-01T05:00:00+05:00"`) + `}]}`,
	} {
		f.Add([]byte(content), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, seal bool) {
		if seal {
			data = sealBundle(BundleFormatVersion, string(data))
		}
		v, info, err := DecodeBundle(data)
		if err != nil {
			if v != nil || info != (BundleInfo{}) {
				t.Fatalf("DecodeBundle returned %v, %+v with error %v", v, info, err)
			}
			return
		}
		encoded, err := EncodeBundle(v.Policy(), v.Store())
		if err != nil {
			t.Fatalf("EncodeBundle of a decoded bundle: %v", err)
		}
		v2, info2, err := DecodeBundle(encoded)
		if err != nil {
			t.Fatalf("DecodeBundle of a re-encoded bundle: %v\n%s", err, encoded)
		}
		if !reflect.DeepEqual(v2.Policy().Spec(), v.Policy().Spec()) {
			t.Fatalf("re-encoded spec %+v, want %+v", v2.Policy().Spec(), v.Policy().Spec())
		}
		checkSameTokens(t, v2.Store(), v.Store())
		if info2.Tokens != info.Tokens || info2.Endpoints != info.Endpoints {
			t.Fatalf("re-encoded info %+v, want counts of %+v", info2, info)
		}
		again, err := EncodeBundle(v2.Policy(), v2.Store())
		if err != nil || !bytes.Equal(again, encoded) {
			t.Fatalf("encoding is not stable: %v\n%s\n%s", err, again, encoded)
		}
	})
}

func FuzzMintToken(f *testing.F) {
	f.Add(make([]byte, 64))
	f.Add(bytes.Repeat([]byte{0xFF, 0x01}, 64))
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, random []byte) {
		token, err := MintToken(bytes.NewReader(random))
		if err != nil {
			if token != "" {
				t.Fatalf("MintToken returned %q with error %v", token, err)
			}
			return
		}
		if err := CheckTokenFormat(token); err != nil {
			t.Fatalf("CheckTokenFormat(%q) = %v", token, err)
		}
		if again, _ := MintToken(bytes.NewReader(random)); again != token {
			t.Fatalf("MintToken gave %q, then %q for the same bytes", token, again)
		}
	})
}
