package core

import "testing"

func TestCheckPath(t *testing.T) {
	cases := []struct {
		name string
		path string
		want bool
	}{
		{"root", "/", true},
		{"endpoint", "/rest/api/v1/search", true},
		{"trailing slash", "/rest/api/v1/search/", true},
		{"legitimate %41", "/rest/api/v1/%41", true},
		{"lower-case %61", "/rest/api/v1/se%61rch", true},
		{"encoded space", "/a%20b", true},
		{"encoded question mark", "/a%3Fb", true},
		{"encoded percent", "/a%25", true},
		{"percent at the end", "/a%", true},
		{"percent and one digit", "/a%2", true},
		{"dot inside a segment", "/a.b", true},
		{"dot-led segment", "/a/.b", true},
		{"two-dot-led segment", "/a/..b", true},
		{"three dots", "/a/...", true},
		{"tilde, colon, semicolon and at", "/~a:b;c@d", true},
		{"printable punctuation", "/!$&'()*+,=-_", true},
		{"empty", "", false},
		{"relative", "rest/api/v1/search", false},
		{"asterisk form", "*", false},
		{"absolute form", "http://h/rest", false},
		{"double slash", "//", false},
		{"empty segment", "/rest//search", false},
		{"empty first segment", "//rest/search", false},
		{"dot segment", "/rest/./search", false},
		{"dot-dot segment", "/rest/../search", false},
		{"final dot", "/rest/.", false},
		{"final dot-dot", "/rest/..", false},
		{"only dot", "/.", false},
		{"only dot-dot", "/..", false},
		{"backslash", `/rest\search`, false},
		{"hash", "/rest/search#x", false},
		{"nul", "/rest\x00", false},
		{"tab", "/rest\tx", false},
		{"newline", "/rest\nx", false},
		{"carriage return", "/rest\rx", false},
		{"unit separator", "/rest\x1f", false},
		{"delete", "/rest\x7f", false},
		{"byte 0x80", "/rest\x80", false},
		{"byte 0xff", "/rest\xff", false},
		{"utf-8", "/rést", false},
		{"encoded slash upper", "/a%2Fb", false},
		{"encoded slash lower", "/a%2fb", false},
		{"encoded backslash upper", "/a%5Cb", false},
		{"encoded backslash lower", "/a%5cb", false},
		{"encoded dot upper", "/a%2Eb", false},
		{"encoded dot lower", "/a%2eb", false},
		{"encoded dot-dot segment", "/a/%2e%2e/b", false},
		{"half-encoded dot-dot", "/a/.%2E/b", false},
		{"encoded slash at the end", "/a%2F", false},
		{"encoded dot in first segment", "/%2e", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := CheckPath(c.path); got != c.want {
				t.Errorf("CheckPath(%q) = %v, want %v", c.path, got, c.want)
			}
		})
	}
}

func TestDecide_PathMatching(t *testing.T) {
	user := func(scope Scope) expectation {
		return expectation{reason: ReasonOK, tokenID: idUser, permission: PermissionUser, principal: "ann@example.com", scope: scope}
	}
	global := expectation{reason: ReasonOK, tokenID: idGlobal, permission: PermissionGlobal, principal: "dana@example.com", scope: ScopePeople}
	unmapped := expectation{reason: ReasonEndpointUnmapped, tokenID: idUser, permission: PermissionUser}
	globalUnmapped := expectation{reason: ReasonEndpointUnmapped, tokenID: idGlobal, permission: PermissionGlobal}
	malformed := expectation{reason: ReasonMalformedPath}
	asDana := withToken(idGlobal, scio("dana@example.com"))
	runDecideCases(t, []decideCase{
		{name: "exact path", method: "POST", path: api("/search"), headers: withToken(idUser), want: user(ScopeSearch)},
		{name: "query ignored", method: "POST", path: api("/search?q=1&x=/../"), headers: withToken(idUser), want: user(ScopeSearch)},
		{name: "empty query", method: "POST", path: api("/search?"), headers: withToken(idUser), want: user(ScopeSearch)},
		{name: "hash inside the query", method: "POST", path: api("/search?a#b"), headers: withToken(idUser), want: user(ScopeSearch)},
		{name: "query only after the first question mark", method: "POST", path: api("/search?a?b"), headers: withToken(idUser), want: user(ScopeSearch)},
		{name: "no decoding of %61", method: "POST", path: api("/se%61rch"), headers: withToken(idUser), want: unmapped},
		{name: "path case differs", method: "POST", path: api("/Search"), headers: withToken(idUser), want: unmapped},
		{name: "method case differs", method: "post", path: api("/search"), headers: withToken(idUser), want: unmapped},
		{name: "trailing slash", method: "POST", path: api("/search/"), headers: withToken(idUser), want: unmapped},
		{name: "base path only", method: "POST", path: api(""), headers: withToken(idUser), want: unmapped},
		{name: "base path with slash", method: "POST", path: api("/"), headers: withToken(idUser), want: unmapped},
		{name: "outside the base path", method: "POST", path: "/search", headers: withToken(idUser), want: unmapped},
		{name: "base path prefix without slash", method: "POST", path: "/rest/api/v1search", headers: withToken(idUser), want: unmapped},
		{name: "other version", method: "POST", path: "/rest/api/v2/search", headers: withToken(idUser), want: unmapped},
		{name: "parameter segment", method: "GET", path: api("/people/abc123/photo"), headers: asDana, want: global},
		{name: "parameter with encoded byte", method: "GET", path: api("/people/a%40b/photo"), headers: asDana, want: global},
		{name: "empty parameter", method: "GET", path: api("/people//photo"), headers: asDana, want: malformed},
		{name: "parameter spans two segments", method: "GET", path: api("/people/a/b/photo"), headers: asDana, want: globalUnmapped},
		{name: "parameter missing", method: "GET", path: api("/people/photo"), headers: asDana, want: globalUnmapped},
		{name: "extra segment after pattern", method: "GET", path: api("/people/a/photo/x"), headers: asDana, want: globalUnmapped},
		{name: "pattern with trailing slash", method: "GET", path: api("/people/a/photo/"), headers: asDana, want: globalUnmapped},
		{name: "braces fill a parameter like any segment", method: "GET", path: api("/people/{person_id}/photo"), headers: asDana, want: global},
		{name: "dot segment", method: "POST", path: api("/chat/../search"), headers: withToken(idUser), want: malformed},
		{name: "encoded slash", method: "POST", path: api("/chat%2f..%2fsearch"), headers: withToken(idUser), want: malformed},
		{name: "double slash", method: "POST", path: api("//search"), headers: withToken(idUser), want: malformed},
		{name: "fragment", method: "POST", path: api("/search#x"), headers: withToken(idUser), want: malformed},
		{name: "no leading slash", method: "POST", path: "rest/api/v1/search", headers: withToken(idUser), want: malformed},
		{name: "empty path", method: "POST", path: "", headers: withToken(idUser), want: malformed},
		{name: "query only", method: "POST", path: "?x", headers: withToken(idUser), want: malformed},
	})
}
