package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tokengate/tokengate/core"
)

var inputSeeds = []string{
	`{"method":"POST","path":"/rest/api/v1/search","headers":[["Authorization","Bearer glean_x"],["X-Scio-ActAs","a@b.co"]],"now":"2026-06-01T12:00:00Z"}`,
	` { "method" : "GET" , "path" : "/" , "headers" : [ ] } `,
	`{"headers":[],"headers":[]}`,
	`{"Method":"GET"}`,
	`{"method":"G\u0045T"}`,
	`{"method":null}`,
	`{"headers":[[null,"v"]]}`,
	`{"headers":[["a","b","c"]]}`,
	`{"now":"2026-06-01T12:00:00+02:00"}`,
	`{"now":"2026-06-01"}`,
	`{"path":"/\u00e9"}`,
	"{\"path\":\"/\xff\"}",
	`{} x`,
	`{}`,
	`null`,
	`[]`,
	`{"method":"GET",}`,
}

func TestDecodeInput_FastPathTaken(t *testing.T) {
	for _, s := range inputSeeds[:2] {
		if _, ok := decodeInputFast([]byte(s)); !ok {
			t.Errorf("fast path rejected %s", s)
		}
	}
}

func TestDecodeInput_TrailingData(t *testing.T) {
	if _, err := decodeInput([]byte(`{"method":"GET"} {"method":"PUT"}`)); err == nil {
		t.Error("accepted a second object after the input")
	}
}

// FuzzDecodeInput checks that the fast path accepts only inputs that encoding/json decodes to
// the same value.
func FuzzDecodeInput(f *testing.F) {
	for _, s := range inputSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeInputFast(data)
		if !ok {
			return
		}
		std, err := decodeInputStd(data)
		if err != nil {
			t.Fatalf("fast path accepted %q, encoding/json rejects it: %v", data, err)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("%q: fast path %+v, encoding/json %+v", data, fast, std)
		}
	})
}

func TestEncodeDecision_FastPathTaken(t *testing.T) {
	d := core.Decision{Allow: true, Status: 200, Reason: core.ReasonOK, TokenID: "tok_a", Permission: core.PermissionGlobal, Principal: "a@b.co", Scope: core.ScopeSearch}
	if _, ok := appendDecisionFast(nil, d); !ok {
		t.Error("fast path rejected an ordinary decision")
	}
}

// FuzzEncodeDecision checks that the fast path writes the bytes of json.Marshal.
func FuzzEncodeDecision(f *testing.F) {
	f.Add(uint8(core.ReasonOK), uint8(1), uint8(11), "tok_a", "ann@example.com")
	f.Add(uint8(core.ReasonScopeMissing), uint8(3), uint8(3), "tok<b>", "")
	f.Add(uint8(core.ReasonMalformedPath), uint8(0), uint8(0), "", "x\u2028y")
	f.Add(uint8(200), uint8(9), uint8(99), "\xff", `"\`)
	f.Fuzz(func(t *testing.T, reason, permission, scope uint8, tokenID, principal string) {
		r := core.Reason(reason)
		d := core.Decision{Allow: r.Allow(), Status: r.Status(), Reason: r, Error: r.ErrorCode(),
			TokenID: tokenID, Permission: core.Permission(permission), Principal: principal, Scope: core.Scope(scope)}
		fast, ok := appendDecisionFast(nil, d)
		std, err := json.Marshal(d)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("fast path encoded %+v, json.Marshal fails: %v", d, err)
		}
		if !bytes.Equal(fast, std) {
			t.Fatalf("fast path %s, json.Marshal %s", fast, std)
		}
	})
}
