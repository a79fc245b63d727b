package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/tokengate/tokengate/core"
)

// encoding/json scans every byte through an indirect call, which Go's wasm code makes slow:
// decoding a typical decide input took about 0.5 ms in wazero. The fast paths below handle
// the common form of the input and the output without encoding/json and give up on anything
// else, which then goes through encoding/json. So the accepted inputs and their meaning stay
// exactly those of encoding/json. FuzzDecodeInput and FuzzEncodeDecision check that.

// decodeInput decodes the decide input, with the fast path first.
func decodeInput(data []byte) (decideInput, error) {
	if in, ok := decodeInputFast(data); ok {
		return in, nil
	}
	return decodeInputStd(data)
}

// decodeInputStd decodes the decide input with encoding/json. It rejects unknown fields and
// anything but white space after the object.
func decodeInputStd(data []byte) (decideInput, error) {
	var in decideInput
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return decideInput{}, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return decideInput{}, errors.New("invalid data after the top-level object")
	}
	return in, nil
}

// inputScanner reads the subset of JSON that decodeInputFast accepts.
type inputScanner struct {
	data []byte
	off  int
}

func (s *inputScanner) skipSpace() {
	for s.off < len(s.data) {
		switch s.data[s.off] {
		case ' ', '\t', '\n', '\r':
			s.off++
		default:
			return
		}
	}
}

// consume skips white space and then c, and reports whether c was there.
func (s *inputScanner) consume(c byte) bool {
	s.skipSpace()
	if s.off < len(s.data) && s.data[s.off] == c {
		s.off++
		return true
	}
	return false
}

// plainString reads a string of printable ASCII without escapes and returns its content.
func (s *inputScanner) plainString() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.off
	for s.off < len(s.data) {
		c := s.data[s.off]
		switch {
		case c == '"':
			s.off++
			return s.data[start : s.off-1], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
		s.off++
	}
	return nil, false
}

// decodeInputFast decodes an input object whose keys are exactly "method", "path", "headers"
// and "now", each at most once, and whose strings are printable ASCII without escapes. It
// returns false for any other input.
func decodeInputFast(data []byte) (decideInput, bool) {
	s := inputScanner{data: data}
	var in decideInput
	if !s.consume('{') {
		return in, false
	}
	if s.consume('}') {
		return in, s.atEnd()
	}
	var seen [4]bool
	for {
		key, ok := s.plainString()
		if !ok || !s.consume(':') {
			return in, false
		}
		field := -1
		switch string(key) {
		case "method":
			field = 0
		case "path":
			field = 1
		case "headers":
			field = 2
		case "now":
			field = 3
		}
		if field < 0 || seen[field] {
			return in, false
		}
		seen[field] = true
		if !s.value(field, &in) {
			return in, false
		}
		if s.consume('}') {
			return in, s.atEnd()
		}
		if !s.consume(',') {
			return in, false
		}
	}
}

func (s *inputScanner) value(field int, in *decideInput) bool {
	switch field {
	case 0, 1:
		v, ok := s.plainString()
		if field == 0 {
			in.Method = string(v)
		} else {
			in.Path = string(v)
		}
		return ok
	case 2:
		headers, ok := s.headers()
		in.Headers = headers
		return ok
	default:
		start := s.off
		if _, ok := s.plainString(); !ok {
			return false
		}
		var t time.Time
		// The same method encoding/json calls, on the quoted string.
		if t.UnmarshalJSON(bytes.TrimLeft(s.data[start:s.off], " \t\n\r")) != nil {
			return false
		}
		in.Now = &t
		return true
	}
}

// headers reads a list of [name, value] pairs.
func (s *inputScanner) headers() ([]core.Header, bool) {
	if !s.consume('[') {
		return nil, false
	}
	headers := []core.Header{}
	if s.consume(']') {
		return headers, true
	}
	for {
		if !s.consume('[') {
			return nil, false
		}
		name, ok := s.plainString()
		if !ok || !s.consume(',') {
			return nil, false
		}
		value, ok := s.plainString()
		if !ok || !s.consume(']') {
			return nil, false
		}
		headers = append(headers, core.Header{Name: string(name), Value: string(value)})
		if s.consume(']') {
			return headers, true
		}
		if !s.consume(',') {
			return nil, false
		}
	}
}

func (s *inputScanner) atEnd() bool {
	s.skipSpace()
	return s.off == len(s.data)
}

// encodeDecision returns the decision JSON, the same bytes as json.Marshal(d).
func encodeDecision(d core.Decision) ([]byte, error) {
	if out, ok := appendDecisionFast(make([]byte, 0, 192), d); ok {
		return out, nil
	}
	return json.Marshal(d)
}

// appendDecisionFast appends the decision JSON when every string in it is printable ASCII
// that json.Marshal writes unescaped, and returns false otherwise.
func appendDecisionFast(out []byte, d core.Decision) ([]byte, bool) {
	if !d.Reason.Valid() {
		return out, false
	}
	out = append(out, `{"allow":`...)
	out = strconv.AppendBool(out, d.Allow)
	out = append(out, `,"status":`...)
	out = strconv.AppendInt(out, int64(d.Status), 10)
	fields := [...]struct{ name, value string }{
		{"reason", d.Reason.String()},
		{"error", d.Error},
		{"token_id", d.TokenID},
		{"permission", d.Permission.String()},
		{"principal", d.Principal},
		{"scope", d.Scope.String()},
	}
	for i, f := range fields {
		// reason is always written; the others are omitted when empty, as in json.Marshal.
		if f.value == "" && i > 0 {
			continue
		}
		if !isPlainJSON(f.value) {
			return out, false
		}
		out = append(out, `,"`...)
		out = append(out, f.name...)
		out = append(out, `":"`...)
		out = append(out, f.value...)
		out = append(out, '"')
	}
	return append(out, '}'), true
}

// isPlainJSON reports whether json.Marshal writes s without escapes: printable ASCII other
// than '"', '\\' and the HTML characters '<', '>' and '&'.
func isPlainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// invalidInput wraps a decode error of the decide input with the expected form.
func invalidInput(err error) error {
	return fmt.Errorf("invalid decide input: %w; want {\"method\", \"path\", \"headers\": [[name, value], ...], \"now\"?}", err)
}
