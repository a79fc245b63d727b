package leanabi

import (
	"bytes"
	"testing"

	"github.com/tokengate/tokengate/core"
)

// FuzzDecodeRequest decodes random bytes as a lean request, as the guest does with what the
// host writes. Decoding must never panic, and an accepted input must be exactly the encoding
// of what it decoded to, so that host and guest cannot read one buffer two ways.
func FuzzDecodeRequest(f *testing.F) {
	for _, req := range []core.Request{
		{},
		{Method: "POST", Path: "/rest/api/v1/search?q=a", Headers: []core.Header{{Name: "Authorization", Value: "Bearer x"}}},
		{Method: "GET", Path: "/", Headers: []core.Header{{}, {Name: "X-Scio-ActAs", Value: "\x00\r\n\xff"}}},
	} {
		buf := make([]byte, RequestSize(req))
		n := PutRequest(buf, req, -1)
		f.Add(buf[:n])
		f.Add(buf[:n/2])
	}
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var req core.Request
		now, err := DecodeRequest(data, &req)
		if err != nil {
			return
		}
		out := make([]byte, RequestSize(req))
		if n := PutRequest(out, req, now); n != len(data) || !bytes.Equal(out, data) {
			t.Fatalf("decoded %+v at %d, which encodes to %x, not the input %x", req, now, out[:n], data)
		}
	})
}

// FuzzDecodeDecision decodes random bytes as a lean decision, as the host does with what the
// guest returns. An accepted input must give a decision whose status, allow and error follow
// from its reason, and must be exactly the encoding of that decision. A rejected input must
// give the zero decision, never a partly filled allow.
func FuzzDecodeDecision(f *testing.F) {
	for _, d := range []core.Decision{
		core.NotConfigured(),
		{Reason: core.ReasonOK, Permission: core.PermissionGlobal, Scope: core.Scope(1), TokenID: "tok_a", Principal: "a@b.c"},
		{Reason: core.ReasonScopeMissing, Permission: core.PermissionUser, Scope: core.Scope(2), TokenID: "tok_b"},
	} {
		enc := AppendDecision(nil, d)
		f.Add(enc)
		f.Add(enc[:len(enc)-1])
	}
	f.Add([]byte{255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodeDecision(data, nil)
		if err != nil {
			if d != (core.Decision{}) {
				t.Fatalf("DecodeDecision returned %+v with error %v", d, err)
			}
			return
		}
		if d.Status != d.Reason.Status() || d.Allow != (d.Status == 200) || d.Error != d.Reason.ErrorCode() {
			t.Fatalf("decision %+v: status, allow and error do not follow from the reason", d)
		}
		if out := AppendDecision(nil, d); !bytes.Equal(out, data) {
			t.Fatalf("decoded %+v, which encodes to %x, not the input %x", d, out, data)
		}
	})
}
