package core

// The two names of the act-as header. They mean the same.
const (
	HeaderScioActAs  = "X-Scio-ActAs"
	HeaderGleanActAs = "X-Glean-ActAs"
)

// maxAddressLen is the longest act-as address accepted, in bytes (the RFC 5321 path limit
// less the angle brackets).
const maxAddressLen = 254

// IsBareAddress reports whether s is a bare email address local@domain: no display name,
// brackets, spaces or commas, exactly one '@' with a non-empty local part in RFC 5322
// dot-atom form (atext, with single dots only between atext characters), a domain of at least
// two dot-separated letter-digit-hyphen labels, and at most 254 bytes.
func IsBareAddress(s string) bool {
	if len(s) == 0 || len(s) > maxAddressLen {
		return false
	}
	at := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '@' {
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	if at <= 0 {
		return false
	}
	for i := 0; i < at; i++ {
		if !isLocalChar(s[i]) {
			return false
		}
		// RFC 5322 dot-atom: a dot only between two atext characters. Some mail systems
		// ignore dots, so ".dana" or "da..na" could reach the mailbox of "dana".
		if s[i] == '.' && (i == 0 || i == at-1 || s[i-1] == '.') {
			return false
		}
	}
	return isDomain(s[at+1:])
}

// isLocalChar reports whether c may appear in the local part: RFC 5322 atext or '.'.
func isLocalChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '.', '!', '#', '$', '%', '&', '\'', '*', '+', '-', '/', '=', '?', '^', '_', '`', '{', '|', '}', '~':
		return true
	}
	return false
}

// isDomain reports whether s is at least two dot-separated labels of letters, digits and
// hyphens, each 1 to 63 bytes that neither start nor end with a hyphen.
func isDomain(s string) bool {
	labels := 0
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
			continue
		}
		label := s[start:i]
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		labels++
		start = i + 1
	}
	return labels >= 2
}

// IsDomain reports whether s is a domain name as act-as addresses use it (see [IsBareAddress]).
func IsDomain(s string) bool { return isDomain(s) }

// asciiLower returns s with ASCII upper-case letters lowered. It allocates only when s has one.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// equalFoldASCII compares two strings without regard to ASCII case.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		// Two different bytes match only as the two cases of one letter, which differ in
		// bit 0x20 alone.
		lower := x | 0x20
		if lower != y|0x20 || lower < 'a' || lower > 'z' {
			return false
		}
	}
	return true
}

// trimSpaceTab removes leading and trailing spaces and horizontal tabs.
func trimSpaceTab(s string) string {
	start, end := 0, len(s)
	for start < end && (s[start] == ' ' || s[start] == '\t') {
		start++
	}
	for end > start && (s[end-1] == ' ' || s[end-1] == '\t') {
		end--
	}
	return s[start:end]
}

// actAs is the outcome of reading the act-as headers.
type actAs struct {
	value     string // the first non-empty value, trimmed
	ambiguous bool   // more than one distinct value
}

// readActAs collects both act-as header names, trims the values, drops empty ones and reports
// whether more than one distinct value (compared without regard to case) is left.
func readActAs(headers []Header) actAs {
	var out actAs
	for i := range headers {
		h := &headers[i]
		if !equalFoldASCII(h.Name, HeaderScioActAs) && !equalFoldASCII(h.Name, HeaderGleanActAs) {
			continue
		}
		v := trimSpaceTab(h.Value)
		if v == "" {
			continue
		}
		if out.value == "" {
			out.value = v
		} else if !equalFoldASCII(out.value, v) {
			out.ambiguous = true
		}
	}
	return out
}
