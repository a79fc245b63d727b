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
	for i := 1; i <= len(path); i++ {
		if i == len(path) || path[i] == '/' {
			seg := path[segStart:i]
			// A trailing slash gives a final empty segment, which matching treats as
			// another path; only an empty segment between two slashes is rejected.
			if i < len(path) && len(seg) == 0 {
				return false
			}
			if seg == "." || seg == ".." {
				return false
			}
			segStart = i + 1
			continue
		}
		c := path[i]
		switch {
		case c < 0x20 || c > 0x7E:
			return false
		case c == '\\' || c == '#':
			return false
		case c == '%':
			if i+2 < len(path) && path[i+1] == '2' {
				switch path[i+2] {
				case 'f', 'F', 'e', 'E':
					return false
				}
			}
			if i+2 < len(path) && path[i+1] == '5' && (path[i+2] == 'c' || path[i+2] == 'C') {
				return false
			}
		}
	}
	return true
}
