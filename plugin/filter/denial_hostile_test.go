//go:build !wasm

package filter_test

import (
	"strings"
	"testing"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/plugin/filter"
)

// FuzzDenial_RoundTrip writes denial lines with request data chosen by the fuzzer and parses
// them back. The proxywasm engine reads token ids from these lines, so a method or path that
// imitates the fields (`" token_id="tok_admin`) must not change what the line parses to, and
// no line may carry a raw line break into the host's log.
func FuzzDenial_RoundTrip(f *testing.F) {
	f.Add(false, 403, uint8(core.ReasonScopeMissing), "tok_user", "USER", "POST", "/rest/api/v1/chat")
	f.Add(true, 401, uint8(core.ReasonUnknownToken), "", "", "GET", `/a" token_id="tok_admin" permission="GLOBAL`)
	f.Add(false, 400, uint8(core.ReasonMalformedPath), "", "", "GET\ntokengate: denied request: status=200", "/\x00\r\n\xff")
	f.Fuzz(func(t *testing.T, shadow bool, status int, reason uint8, tokenID, permission, method, path string) {
		d := filter.Denial{
			Shadow:     shadow,
			Status:     status,
			Reason:     core.Reason(reason % uint8(core.NumReasons)),
			TokenID:    tokenID,
			Permission: permission,
			Method:     method,
			Path:       path,
		}
		line := d.String()
		if strings.ContainsAny(line, "\r\n\x00") {
			t.Fatalf("line %q has a raw control character", line)
		}
		got, err := filter.ParseDenial(line)
		if err != nil {
			t.Fatalf("ParseDenial(%q): %v", line, err)
		}
		if got != d {
			t.Fatalf("ParseDenial(%q) = %+v, want %+v", line, got, d)
		}
	})
}

// FuzzParseDenial parses arbitrary log lines. It must never panic, and a line it accepts must
// be the line that its result writes, so one line cannot be read two ways.
func FuzzParseDenial(f *testing.F) {
	f.Add(`tokengate: denied request: status=403 reason=scope_missing token_id="tok_user" permission="USER" method="POST" path="/rest/api/v1/chat"`)
	f.Add(`tokengate: shadow mode forwarded a request it would deny: status=401 reason=missing_token token_id="" permission="" method="GET" path="/"`)
	f.Add(`tokengate: denied request: status=403 reason=ok token_id=tok permission= method= path=`)
	f.Add("tokengate: configuration loaded")
	f.Fuzz(func(t *testing.T, line string) {
		d, err := filter.ParseDenial(line)
		if err != nil {
			if d != (filter.Denial{}) {
				t.Fatalf("ParseDenial returned %+v with error %v", d, err)
			}
			return
		}
		again, err := filter.ParseDenial(d.String())
		if err != nil || again != d {
			t.Fatalf("line %q parses to %+v, whose line %q parses to %+v, %v", line, d, d.String(), again, err)
		}
	})
}
