package leanabi

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/core"
)

var sampleRequest = core.Request{
	Method: "POST",
	Path:   "/rest/api/v1/search?q=1",
	Headers: []core.Header{
		{Name: "Authorization", Value: "Bearer glean_abc"},
		{Name: "X-Empty", Value: ""},
		{Name: "", Value: "no name"},
		{Name: "X-Scio-ActAs", Value: "ann@example.com"},
	},
}

func encode(req core.Request, now int64) []byte {
	buf := make([]byte, RequestSize(req))
	if n := PutRequest(buf, req, now); n != len(buf) {
		panic("PutRequest wrote fewer bytes than RequestSize")
	}
	return buf
}

func TestDecodeRequest_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		req  core.Request
		now  int64
	}{
		{"sample", sampleRequest, 1780315200000000000},
		{"empty request", core.Request{}, 0},
		{"negative instant", core.Request{Method: "GET", Path: "/"}, -1},
		{"large header", core.Request{Method: "GET", Path: "/", Headers: []core.Header{{Name: "X", Value: strings.Repeat("v", 70000)}}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got core.Request
			now, err := DecodeRequest(encode(tt.req, tt.now), &got)
			if err != nil {
				t.Fatal(err)
			}
			if now != tt.now {
				t.Errorf("instant %d, want %d", now, tt.now)
			}
			if got.Method != tt.req.Method || got.Path != tt.req.Path {
				t.Errorf("method %q path %q, want %q %q", got.Method, got.Path, tt.req.Method, tt.req.Path)
			}
			if len(got.Headers) != len(tt.req.Headers) {
				t.Fatalf("%d headers, want %d", len(got.Headers), len(tt.req.Headers))
			}
			for i := range got.Headers {
				if got.Headers[i] != tt.req.Headers[i] {
					t.Errorf("header %d: %+v, want %+v", i, got.Headers[i], tt.req.Headers[i])
				}
			}
		})
	}
}

func TestDecodeRequest_ReusesHeaders(t *testing.T) {
	req := core.Request{Headers: make([]core.Header, 0, 8)}
	if _, err := DecodeRequest(encode(sampleRequest, 1), &req); err != nil {
		t.Fatal(err)
	}
	if cap(req.Headers) != 8 {
		t.Errorf("capacity %d, want the original 8", cap(req.Headers))
	}
}

func TestDecodeRequest_Truncated(t *testing.T) {
	full := encode(sampleRequest, 1)
	for n := range len(full) {
		var req core.Request
		if _, err := DecodeRequest(full[:n], &req); err == nil {
			t.Errorf("no error for the first %d of %d bytes", n, len(full))
		}
	}
}

func TestDecodeRequest_Errors(t *testing.T) {
	hugeCount := encode(core.Request{Method: "GET", Path: "/"}, 1)
	binary.LittleEndian.PutUint32(hugeCount[len(hugeCount)-4:], 1<<31)
	hugeLength := encode(core.Request{Method: "GET", Path: "/"}, 1)
	binary.LittleEndian.PutUint32(hugeLength[8:], 1<<32-1)
	tests := []struct {
		name string
		src  []byte
	}{
		{"trailing byte", append(encode(sampleRequest, 1), 0)},
		{"header count beyond the input", hugeCount},
		{"length beyond the input", hugeLength},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req core.Request
			if _, err := DecodeRequest(tt.src, &req); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestDecodeDecision_RoundTrip(t *testing.T) {
	decisions := []core.Decision{
		core.NotConfigured(),
		{Allow: true, Status: 200, Reason: core.ReasonOK, TokenID: "tok_a", Permission: core.PermissionGlobal,
			Principal: "ann@example.com", Scope: core.ScopeSearch},
		{Status: 403, Reason: core.ReasonScopeMissing, Error: core.ErrorInsufficientScope, TokenID: "tok_b",
			Permission: core.PermissionAnonymous, Scope: core.ScopeVerification},
		{Status: 400, Reason: core.ReasonMalformedPath, Error: core.ErrorInvalidRequest},
	}
	for _, want := range decisions {
		t.Run(want.Reason.String(), func(t *testing.T) {
			got, err := DecodeDecision(AppendDecision(nil, want), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%+v, want %+v", got, want)
			}
		})
	}
}

func TestDecodeDecision_Strings(t *testing.T) {
	interned := "tok_a"
	calls := 0
	str := func(b []byte) string {
		calls++
		if string(b) == interned {
			return interned
		}
		return string(b)
	}
	d, err := DecodeDecision(AppendDecision(nil, core.Decision{Reason: core.ReasonOK, TokenID: "tok_a", Principal: "p"}), str)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("%d calls of str, want 2", calls)
	}
	if d.TokenID != interned || d.Principal != "p" {
		t.Errorf("token id %q principal %q", d.TokenID, d.Principal)
	}
}

func TestDecodeDecision_Errors(t *testing.T) {
	valid := AppendDecision(nil, core.Decision{Reason: core.ReasonOK, TokenID: "tok_a", Principal: "p"})
	tests := []struct {
		name string
		src  []byte
	}{
		{"invalid reason", append([]byte{byte(core.NumReasons)}, valid[1:]...)},
		{"invalid permission", append([]byte{valid[0], 9}, valid[2:]...)},
		{"invalid scope", append([]byte{valid[0], valid[1], byte(core.NumScopes + 1)}, valid[3:]...)},
		{"trailing byte", append(append([]byte(nil), valid...), 0)},
		{"empty", nil},
	}
	for n := range len(valid) {
		tests = append(tests, struct {
			name string
			src  []byte
		}{fmt.Sprintf("truncated to %d bytes", n), valid[:n]})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d, err := DecodeDecision(tt.src, nil); err == nil {
				t.Errorf("no error; decoded %+v", d)
			}
		})
	}
}

func TestPack_RoundTrip(t *testing.T) {
	ptr, length := Unpack(Pack(0xdeadbeef, 0x01020304))
	if ptr != 0xdeadbeef || length != 0x01020304 {
		t.Errorf("ptr %#x length %#x", ptr, length)
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	src := encode(sampleRequest, 1)
	req := core.Request{Headers: make([]core.Header, 0, 16)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRequest(src, &req); err != nil {
			b.Fatal(err)
		}
	}
}
