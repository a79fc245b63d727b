//go:build !wasm

package filter_test

import (
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/plugin/emulator"
)

// hostileForged is the value of every identity field a hostile client sends itself.
const hostileForged = "mallory@evil.example"

// maxHostileLogLine bounds every log line the filter writes for a hostile request: the denial
// line cuts the method and path to 256 bytes each and escapes them, so it stays short.
const maxHostileLogLine = 1024

// hostileRow is one hostile header list, as a proxy could hand it to the filter, and what the
// filter must do with it. A proxy's HTTP codec rejects much of this before the filter runs
// (NUL, CR and LF in values, for one), so these rows check the filter's own defence.
type hostileRow struct {
	name  string
	pairs [][2]string
	// status is the local reply's status, or 200 when the request must go upstream.
	status int
	reason core.Reason
	// user is the X-Tokengate-User a forwarded request must carry.
	user string
}

func hostileRows() []hostileRow {
	search := apiBase + "/search"
	user := [2]string{"authorization", "Bearer " + fx.secrets["tok_user"]}
	global := [2]string{"authorization", "Bearer " + fx.secrets["tok_global"]}
	kib64 := strings.Repeat("a", 64<<10)
	mib := strings.Repeat("a", 1<<20)
	bad := "\xff\xfe\xc3\x28"
	req := func(method, path string, fields ...[2]string) [][2]string {
		return append([][2]string{{":method", method}, {":path", path}, {":authority", "gateway.test"}}, fields...)
	}
	many := func(n int, field [2]string) [][2]string {
		out := make([][2]string, n)
		for i := range out {
			out[i] = field
		}
		return out
	}
	const ann = "ann@example.com"
	return []hostileRow{
		{name: "64 KiB authorization value", pairs: req("POST", search, [2]string{"authorization", "Bearer " + kib64}), status: 400, reason: core.ReasonMalformedAuthorization},
		{name: "1 MiB authorization value", pairs: req("POST", search, [2]string{"authorization", "Bearer " + mib}), status: 400, reason: core.ReasonMalformedAuthorization},
		{name: "64 KiB value in another field", pairs: req("POST", search, user, [2]string{"x-padding", kib64}), status: 200, reason: core.ReasonOK, user: ann},
		{name: "1 MiB value in another field", pairs: req("POST", search, user, [2]string{"x-padding", mib}), status: 200, reason: core.ReasonOK, user: ann},
		{name: "10000 fields", pairs: append(req("POST", search, user), many(10000, [2]string{"x-field", "value"})...), status: 200, reason: core.ReasonOK, user: ann},
		{name: "10000 empty authorization fields", pairs: append(req("POST", search, user), many(10000, [2]string{"authorization", " "})...), status: 200, reason: core.ReasonOK, user: ann},
		{name: "10000 equal act-as fields", pairs: append(req("POST", search, global), many(10000, [2]string{"x-scio-actas", "Ann@Example.com"})...), status: 200, reason: core.ReasonOK, user: ann},
		{name: "nul in the credential", pairs: req("POST", search, [2]string{"authorization", user[1] + "\x00"}), status: 400, reason: core.ReasonMalformedAuthorization},
		{name: "cr in the credential", pairs: req("POST", search, [2]string{"authorization", user[1] + "\r"}), status: 400, reason: core.ReasonMalformedAuthorization},
		{name: "lf in the credential", pairs: req("POST", search, [2]string{"authorization", user[1] + "\nx-tokengate-user: " + hostileForged}), status: 400, reason: core.ReasonMalformedAuthorization},
		{name: "crlf in another value", pairs: req("POST", search, user, [2]string{"x-note", "a\r\nx-tokengate-user: " + hostileForged}), status: 200, reason: core.ReasonOK, user: ann},
		{name: "nul in the act-as value", pairs: req("POST", search, global, [2]string{"x-scio-actas", ann + "\x00"}), status: 400, reason: core.ReasonActAsInvalid},
		{name: "lf in the act-as value", pairs: req("POST", search, global, [2]string{"x-glean-actas", ann + "\nx-tokengate-user: " + hostileForged}), status: 400, reason: core.ReasonActAsInvalid},
		{name: "invalid utf-8 in a prefixed token", pairs: req("POST", search, [2]string{"authorization", "Bearer glean_" + bad}), status: 400, reason: core.ReasonMalformedAuthorization},
		{name: "invalid utf-8 in an unprefixed token", pairs: req("POST", search, [2]string{"authorization", "Bearer " + bad}), status: 400, reason: core.ReasonMalformedAuthorization},
		{name: "invalid utf-8 in the act-as value", pairs: req("POST", search, global, [2]string{"x-scio-actas", bad + "@example.com"}), status: 400, reason: core.ReasonActAsInvalid},
		{name: "act-as names disagree", pairs: req("POST", search, global, [2]string{"x-scio-actas", ann}, [2]string{"x-glean-actas", "bob@example.com"}), status: 400, reason: core.ReasonAmbiguousActAs},
		{name: "act-as names agree ignoring case", pairs: req("POST", search, global, [2]string{"x-scio-actas", "ANN@example.com"}, [2]string{"x-glean-actas", ann}), status: 200, reason: core.ReasonOK, user: ann},
		{name: "act-as only in underscore spelling", pairs: req("POST", search, global, [2]string{"x_scio_actas", ann}), status: 400, reason: core.ReasonActAsRequired},
		{name: "underscore act-as beside the real one", pairs: req("POST", search, global, [2]string{"x-glean-actas", ann}, [2]string{"X_Glean_ActAs", hostileForged}), status: 200, reason: core.ReasonOK, user: ann},
		{name: "user token with underscore act-as", pairs: req("POST", search, user, [2]string{"x_scio_actas", hostileForged}), status: 200, reason: core.ReasonOK, user: ann},
		{name: "empty authorization beside the real one", pairs: req("POST", search, [2]string{"authorization", ""}, user), status: 200, reason: core.ReasonOK, user: ann},
		{name: "forged identity fields", pairs: req("POST", search, user, [2]string{"x-tokengate-user", hostileForged}, [2]string{"X_Tokengate_Token_Id", hostileForged}, [2]string{"x-tokengate-scope", hostileForged}), status: 200, reason: core.ReasonOK, user: ann},
		{name: "absolute-form path", pairs: req("POST", "http://gateway.test"+search, user), status: 400, reason: core.ReasonMalformedPath},
		{name: "asterisk path", pairs: req("OPTIONS", "*", user), status: 400, reason: core.ReasonMalformedPath},
		{name: "authority-form path", pairs: req("CONNECT", "gateway.test:443", user), status: 400, reason: core.ReasonMalformedPath},
		{name: "64 KiB path", pairs: req("POST", apiBase+"/"+kib64, user), status: 403, reason: core.ReasonEndpointUnmapped},
		{name: "1 MiB path", pairs: req("POST", apiBase+"/"+mib, user), status: 403, reason: core.ReasonEndpointUnmapped},
		{name: "1 MiB method", pairs: req(mib, search, user), status: 403, reason: core.ReasonEndpointUnmapped},
		{name: "line break in the method", pairs: req("GET\ntokengate: denied request: status=200", search, user), status: 403, reason: core.ReasonEndpointUnmapped},
		{name: "path with invalid utf-8", pairs: req("POST", search+bad, user), status: 400, reason: core.ReasonMalformedPath},
		{name: "request without authority", pairs: [][2]string{{":method", "POST"}, {":path", search}, user}, status: 200, reason: core.ReasonOK, user: ann},
		{name: "request without method", pairs: [][2]string{{":path", search}, user}, status: 400, reason: core.ReasonMalformedPath},
	}
}

func TestFilter_HostileRequests(t *testing.T) {
	rows := hostileRows()
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		h := start(t, vm, config(t, options{}))
		for _, row := range rows {
			t.Run(row.name, func(t *testing.T) {
				res := sendPairs(t, h, row.pairs)
				if row.status == 200 {
					mustForward(t, res)
					checkHostileForward(t, res, row.user)
				} else {
					mustDeny(t, res, row.status, row.reason)
				}
				checkHostileLogs(t, res)
				d, err := res.Decision()
				if err != nil {
					t.Fatalf("the filter's outputs do not form one decision: %v", err)
				}
				if d.Reason != row.reason {
					t.Errorf("counted reason %s, want %s", d.Reason, row.reason)
				}
			})
		}
	})
}

// checkHostileForward checks the identity of a forwarded request and that nothing forged or
// spelled with '_' went along.
func checkHostileForward(t *testing.T, res emulator.Result, user string) {
	t.Helper()
	if got := only(t, res, core.HeaderUser); got != user {
		t.Errorf("%s = %q, want %q", core.HeaderUser, got, user)
	}
	for _, kv := range res.Forwarded {
		if core.IsReservedHeader(kv[0]) && strings.Contains(kv[1], hostileForged) {
			t.Errorf("forged field %s reached upstream", kv[0])
		}
		if strings.Contains(kv[0], "_") {
			t.Errorf("underscore field %s reached upstream", kv[0])
		}
	}
}

// checkHostileLogs checks that no request made the filter log at error level or above, which
// a panic or a failed host call would, and that each line is short and has no raw line break.
func checkHostileLogs(t *testing.T, res emulator.Result) {
	t.Helper()
	for _, l := range res.Logs {
		if l.Level == "error" || l.Level == "critical" {
			t.Errorf("%s log line: %s", l.Level, l.Message)
		}
		if len(l.Message) > maxHostileLogLine {
			t.Errorf("log line of %d bytes, want at most %d: %.200s...", len(l.Message), maxHostileLogLine, l.Message)
		}
		if strings.ContainsAny(l.Message, "\r\n\x00") {
			t.Errorf("log line has a raw control character: %q", l.Message)
		}
	}
}
