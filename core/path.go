package core

// splitQuery returns the path without its query, which starts at the first '?'.
func splitQuery(target string) string {
	for i := 0; i < len(target); i++ {
		if target[i] == '?' {
			return target[:i]
		}
	}
	return target
}

// CheckPath reports whether the path (without its query) is in the canonical form that the
// validator matches exactly. It rejects a path that does not start with '/', an empty segment,
// a dot segment, a backslash, '#', a control character, a byte above 0x7E, and a
// percent-encoded slash, backslash or dot in any case. Those are the forms that a backend might
// normalise into a different endpoint than the one the validator matched.
func CheckPath(path string) bool {
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	segStart := 1
	for i := 1; i < len(path); i++ {
		c := path[i]
		switch {
		case pathPlain[c]:
		case c == '/':
			// A trailing slash gives a final empty segment, which matching treats as
			// another path. Only an empty segment between two slashes is rejected.
			if seg := path[segStart:i]; seg == "" || seg == "." || seg == ".." {
				return false
			}
			segStart = i + 1
		case c == '%':
			if encodesSeparator(path[i+1:]) {
				return false
			}
		default:
			return false
		}
	}
	last := path[segStart:]
	return last != "." && last != ".."
}

// pathPlain marks the bytes that CheckPath accepts anywhere without looking further: printable
// ASCII except '/', '%', the backslash and '#'.
var pathPlain = func() (t [256]bool) {
	for c := 0x20; c <= 0x7E; c++ {
		t[c] = true
	}
	t['/'], t['%'], t['\\'], t['#'] = false, false, false, false
	return t
}()

// encodesSeparator reports whether the text after a '%' starts with the hex code of a slash,
// a backslash or a dot, in either case.
func encodesSeparator(rest string) bool {
	if len(rest) < 2 {
		return false
	}
	switch rest[0] {
	case '2':
		return rest[1] == 'f' || rest[1] == 'F' || rest[1] == 'e' || rest[1] == 'E'
	case '5':
		return rest[1] == 'c' || rest[1] == 'C'
	}
	return false
}
