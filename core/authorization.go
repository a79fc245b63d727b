package core

// MaxCredentialLen is the longest bearer credential accepted, in bytes.
const MaxCredentialLen = 4096

// HeaderAuthorization is the name of the credential header field.
const HeaderAuthorization = "Authorization"

// readCredential finds the bearer credential in the Authorization fields. It returns the
// credential and ReasonOK, or the reason that rejects the request. A field whose value is empty
// after trimming spaces and tabs counts as absent.
func readCredential(headers []Header) (string, Reason) {
	cred, reason := bearerValue(headers)
	if reason != ReasonOK {
		return "", reason
	}
	if reason := checkCredential(cred); reason != ReasonOK {
		return "", reason
	}
	return cred, ReasonOK
}

// bearerValue returns the trimmed value after the Bearer scheme of the one Authorization
// field, or the reason that rejects the fields. It does not check the credential's syntax:
// see checkCredential.
func bearerValue(headers []Header) (string, Reason) {
	value := ""
	found := 0
	for i := range headers {
		h := &headers[i]
		if !equalFoldASCII(h.Name, HeaderAuthorization) {
			continue
		}
		v := trimSpaceTab(h.Value)
		if v == "" {
			continue
		}
		found++
		value = v
	}
	switch {
	case found == 0:
		return "", ReasonMissingToken
	case found > 1:
		return "", ReasonMultipleAuthorization
	}
	end := 0
	for end < len(value) && value[end] != ' ' && value[end] != '\t' {
		end++
	}
	if !equalFoldASCII(value[:end], "Bearer") {
		return "", ReasonUnsupportedScheme
	}
	return trimSpaceTab(value[end:]), ReasonOK
}

// checkCredential returns ReasonMalformedAuthorization for a credential that is empty, longer
// than MaxCredentialLen or not token68, else ReasonOK.
func checkCredential(cred string) Reason {
	if len(cred) == 0 || len(cred) > MaxCredentialLen || !isToken68(cred) {
		return ReasonMalformedAuthorization
	}
	return ReasonOK
}

// isToken68 reports whether s is RFC 7235 token68: letters, digits and "-._~+/", then
// optional trailing '=' characters.
func isToken68(s string) bool {
	i := 0
	for i < len(s) && token68Chars[s[i]] {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}

// token68Chars marks the bytes of token68 before its trailing '=' characters. The table
// lookup per byte costs less than the comparisons in isToken68Char.
var token68Chars = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isToken68Char(byte(c))
	}
	return t
}()

func isToken68Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '+', '/':
		return true
	}
	return false
}
