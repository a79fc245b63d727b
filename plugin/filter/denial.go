package filter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tokengate/tokengate/core"
)

// Denial is one denial log line: the filter logs one, at info level, for every request it
// denies (or, in shadow mode, would deny). The proxywasm engine parses these lines to read the
// token id and permission of a denial, so change Denial.String and ParseDenial together.
type Denial struct {
	// Shadow is true when shadow mode forwarded the request anyway.
	Shadow bool
	// Status and Reason are the decision's.
	Status int
	Reason core.Reason
	// TokenID and Permission describe the token once the token check ran; empty before it.
	TokenID    string
	Permission string
	// Method and Path are the request's, with the query removed, any bearer credential of the
	// request replaced by "[redacted]", and each cut to maxLoggedLen bytes.
	Method string
	Path   string
}

const (
	denialPrefix       = "tokengate: denied request: "
	shadowDenialPrefix = "tokengate: shadow mode forwarded a request it would deny: "

	// maxLoggedLen is the longest method or path written to a log line, in bytes.
	maxLoggedLen = 256
	// minRedactedLen is the shortest credential that is searched for and redacted in logged
	// values. Shorter ones are left alone, because replacing every occurrence of a short
	// string would mangle the path and show where the credential occurs in it.
	minRedactedLen = 8
)

// newDenial returns the log line of decision d for req. The secret never reaches it.
func newDenial(d core.Decision, req core.Request, shadow bool) Denial {
	secrets := bearerCredentials(req.Headers)
	path, _, _ := strings.Cut(req.Path, "?")
	return Denial{
		Shadow:     shadow,
		Status:     d.Status,
		Reason:     d.Reason,
		TokenID:    d.TokenID,
		Permission: d.Permission.String(),
		Method:     loggedValue(req.Method, secrets),
		Path:       loggedValue(path, secrets),
	}
}

// String formats the line: the prefix, then key=value fields, strings quoted in Go syntax with
// every byte outside printable ASCII escaped, so a request cannot inject a line break.
func (d Denial) String() string {
	prefix := denialPrefix
	if d.Shadow {
		prefix = shadowDenialPrefix
	}
	return fmt.Sprintf("%sstatus=%d reason=%s token_id=%s permission=%s method=%s path=%s",
		prefix, d.Status, d.Reason, strconv.QuoteToASCII(d.TokenID), strconv.QuoteToASCII(d.Permission),
		strconv.QuoteToASCII(d.Method), strconv.QuoteToASCII(d.Path))
}

// ErrNotDenial is returned by ParseDenial for a log line without a denial line's prefix.
var ErrNotDenial = errors.New("not a denial line")

// ParseDenial reads a line written by [Denial.String]. It returns an error wrapping
// [ErrNotDenial] for a line without the prefix, and another error for a malformed one.
func ParseDenial(line string) (Denial, error) {
	var d Denial
	rest, ok := strings.CutPrefix(line, denialPrefix)
	if !ok {
		if rest, ok = strings.CutPrefix(line, shadowDenialPrefix); !ok {
			return Denial{}, fmt.Errorf("log line %q: %w", line, ErrNotDenial)
		}
		d.Shadow = true
	}
	fields, err := parseFields(rest)
	if err != nil {
		return Denial{}, fmt.Errorf("denial line %q: %w", line, err)
	}
	if d.Status, err = strconv.Atoi(fields["status"]); err != nil {
		return Denial{}, fmt.Errorf("denial line %q: status: %w", line, err)
	}
	if d.Reason, err = core.ParseReason(fields["reason"]); err != nil {
		return Denial{}, fmt.Errorf("denial line %q: %w", line, err)
	}
	d.TokenID, d.Permission = fields["token_id"], fields["permission"]
	d.Method, d.Path = fields["method"], fields["path"]
	return d, nil
}

// denialFields lists the keys of a denial line in order.
var denialFields = []string{"status", "reason", "token_id", "permission", "method", "path"}

// parseFields reads the space-separated key=value fields of a denial line, in order.
func parseFields(s string) (map[string]string, error) {
	fields := make(map[string]string, len(denialFields))
	for i, key := range denialFields {
		if i > 0 {
			var ok bool
			if s, ok = strings.CutPrefix(s, " "); !ok {
				return nil, fmt.Errorf("missing space before %s", key)
			}
		}
		rest, ok := strings.CutPrefix(s, key+"=")
		if !ok {
			return nil, fmt.Errorf("missing field %s", key)
		}
		value, n, err := fieldValue(rest)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", key, err)
		}
		fields[key] = value
		s = rest[n:]
	}
	if s != "" {
		return nil, fmt.Errorf("unexpected text %q after the fields", s)
	}
	return fields, nil
}

// fieldValue reads one value at the start of s, quoted or bare, and returns it with the number
// of bytes it took.
func fieldValue(s string) (string, int, error) {
	if strings.HasPrefix(s, `"`) {
		quoted, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", 0, err
		}
		value, err := strconv.Unquote(quoted)
		return value, len(quoted), err
	}
	n := strings.IndexByte(s, ' ')
	if n < 0 {
		n = len(s)
	}
	return s[:n], n, nil
}

// bearerCredentials returns the strings of the request that could be a credential, when at
// least minRedactedLen bytes long: each Authorization value, and each run of token68
// characters in it. Splitting at every other byte (a space or a tab after the scheme, a comma
// after the secret) finds the secret however the value around it is spelt.
func bearerCredentials(headers []core.Header) []string {
	var out []string
	for _, h := range headers {
		if !strings.EqualFold(h.Name, core.HeaderAuthorization) {
			continue
		}
		value := strings.Trim(h.Value, " \t")
		for _, s := range append([]string{value}, strings.FieldsFunc(value, notToken68)...) {
			if len(s) >= minRedactedLen {
				out = append(out, s)
			}
		}
	}
	return out
}

// notToken68 reports whether r cannot appear in an RFC 7235 token68 credential.
func notToken68(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("-._~+/=", r)
}

// loggedValue returns s with every secret replaced and cut to maxLoggedLen bytes. Redacting
// comes first, so the cut can never leave the start of a secret behind.
func loggedValue(s string, secrets []string) string {
	for _, secret := range secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	if len(s) > maxLoggedLen {
		s = s[:maxLoggedLen] + "[truncated]"
	}
	return s
}
