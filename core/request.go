package core

import (
	"encoding/json"
	"fmt"
)

// Header is one header field as received. Names compare without regard to case.
type Header struct {
	Name  string
	Value string
}

// MarshalJSON encodes the field as the two-element array [name, value].
func (h Header) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]string{h.Name, h.Value})
}

// UnmarshalJSON decodes the two-element array [name, value].
func (h *Header) UnmarshalJSON(data []byte) error {
	var pair []string
	if err := json.Unmarshal(data, &pair); err != nil {
		return fmt.Errorf("header: want [name, value]: %w", err)
	}
	if len(pair) != 2 {
		return fmt.Errorf("header: want [name, value], got %d elements", len(pair))
	}
	h.Name, h.Value = pair[0], pair[1]
	return nil
}

// Request is the part of an HTTP request that a decision reads. The body is never part of it.
type Request struct {
	// Method is the request method, compared case-sensitively.
	Method string `json:"method"`
	// Path is the request target in origin form, optionally with a query.
	Path string `json:"path"`
	// Headers lists every header field in the order received; a name may repeat.
	Headers []Header `json:"headers"`
}
