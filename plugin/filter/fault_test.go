//go:build !wasm

package filter_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/plugin/emulator"
	"github.com/tokengate/tokengate/plugin/filter"
)

func TestFilter_InvalidConfigurationAnswers503(t *testing.T) {
	good := bundle(t, fx.policy.Spec(), fx.tokens)
	tampered := bytes.Replace(good, []byte(`"realm":"glean"`), []byte(`"realm":"other"`), 1)
	if bytes.Equal(tampered, good) {
		t.Fatal("the tampered bundle equals the good one: the realm field was not found")
	}
	tests := []struct {
		name    string
		config  string
		wantLog string
	}{
		{"empty", "", "the plugin configuration is empty"},
		{"not json", "bundle: yes", "the plugin configuration is not valid"},
		{"unknown field", `{"bundle": ` + string(good) + `, "shadw": true}`, `unknown field "shadw"`},
		{"missing bundle", `{"shadow": true}`, `has no "bundle"`},
		{"bundle is a number", `{"bundle": 7}`, `"bundle" is a JSON number`},
		{"bundle string is not a bundle", `{"bundle": "{}"}`, "bundle is not valid"},
		{"digest mismatch", `{"bundle": ` + string(tampered) + `}`, "does not match the content"},
		{"trailing data", `{"bundle": ` + string(good) + `} {}`, "unexpected data after the JSON value"},
	}
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := startAny(t, vm, []byte(tt.config))
				if h.Started() {
					t.Fatal("the filter accepted the configuration")
				}
				if errs := strings.Join(h.Logs()["error"], "\n"); !strings.Contains(errs, tt.wantLog) {
					t.Errorf("error logs = %q, want one containing %q", errs, tt.wantLog)
				}
				if got := h.Counter(filter.MetricConfigFailures); got != 1 {
					t.Errorf("%s = %d, want 1", filter.MetricConfigFailures, got)
				}
				if got := h.Counter(filter.MetricConfigLoads); got != 0 {
					t.Errorf("%s = %d, want 0", filter.MetricConfigLoads, got)
				}
				res := send(t, h, "POST", apiBase+"/search", bearer("tok_user"))
				mustDeny(t, res, 503, core.ReasonNotConfigured)
				checkReplyFormat(t, res.Reply, core.ReasonNotConfigured)
				if got := res.Reply.Header("WWW-Authenticate"); len(got) != 0 {
					t.Errorf("WWW-Authenticate = %q, want none on a 503", got)
				}
				if got := res.Counters[filter.DecisionMetric(core.ReasonNotConfigured)]; got != 1 {
					t.Errorf("%s grew by %d, want 1", filter.DecisionMetric(core.ReasonNotConfigured), got)
				}
				h.Close()
			})
		}
	})
}

func TestFilter_MissingRequestTimeAnswers503(t *testing.T) {
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		h := start(t, vm, config(t, options{}))
		// No request on this Host has set request.time, so the filter's read fails.
		res, err := h.Do(emulator.Pairs("POST", apiBase+"/search", []core.Header{bearer("tok_user")}), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		mustDeny(t, res, 503, core.ReasonNotConfigured)
		checkHostFailure(t, res, "request.time")
	})
}

func TestFilter_UnsetHostClockAnswers503(t *testing.T) {
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		h := start(t, vm, config(t, options{}))
		res, err := h.Do(emulator.Pairs("POST", apiBase+"/search", []core.Header{bearer("tok_revoked")}), time.Unix(0, 1))
		if err != nil {
			t.Fatal(err)
		}
		mustDeny(t, res, 503, core.ReasonNotConfigured)
		checkHostFailure(t, res, "the host clock is not set")
	})
}

// TestFilter_FailedHostCallsAnswer503 runs in process only: the SDK's emulator never fails
// these calls, so the faults are injected into the filter's host interface.
func TestFilter_FailedHostCallsAnswer503(t *testing.T) {
	tests := []struct {
		name    string
		fault   filter.Fault
		headers []core.Header
		wantLog string
	}{
		{"header read", filter.FaultRequestHeaders, []core.Header{bearer("tok_user")}, "read the request headers"},
		{"property read", filter.FaultProperty, []core.Header{bearer("tok_user")}, "request.time"},
		{"header removal", filter.FaultRemoveHeader, []core.Header{bearer("tok_user"), header("X-Tokengate-User", forgedValue)}, "remove x-tokengate-user"},
		{"identity header write", filter.FaultReplaceHeader, []core.Header{bearer("tok_user")}, "set X-Tokengate-Token-Id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, filter.NewFaultyVMContext(tt.fault), config(t, options{}))
			res := send(t, h, "POST", apiBase+"/search", tt.headers...)
			mustDeny(t, res, 503, core.ReasonNotConfigured)
			checkHostFailure(t, res, tt.wantLog)
		})
	}
}

func TestFilter_FailedReplyStaysPaused(t *testing.T) {
	h := start(t, filter.NewFaultyVMContext(filter.FaultSendReply), config(t, options{}))
	res := send(t, h, "POST", apiBase+"/search")
	if res.Action != types.ActionPause {
		t.Errorf("action = %d, want pause", res.Action)
	}
	if res.Continued() {
		t.Error("the request was forwarded after the reply failed")
	}
	checkHostFailure(t, res, "send the 401 missing_token reply")
}

// checkHostFailure checks the counter and the error log of a failed host call.
func checkHostFailure(t *testing.T, res emulator.Result, wantLog string) {
	t.Helper()
	if got := res.Counters[filter.MetricHostCallFailures]; got != 1 {
		t.Errorf("%s grew by %d, want 1", filter.MetricHostCallFailures, got)
	}
	var errs []string
	for _, l := range res.Logs {
		if l.Level == "error" {
			errs = append(errs, l.Message)
		}
	}
	if joined := strings.Join(errs, "\n"); !strings.Contains(joined, wantLog) {
		t.Errorf("error logs = %q, want one containing %q", joined, wantLog)
	}
}

func TestFilter_ReconfigurationRevokesToken(t *testing.T) {
	revoked := append([]core.Token(nil), fx.tokens...)
	found := false
	for i := range revoked {
		if revoked[i].ID == "tok_user" {
			revoked[i].RevokedAt = fx.now.Add(-time.Minute)
			found = true
		}
	}
	if !found {
		t.Fatal("the fixture has no tok_user")
	}
	before := config(t, options{})
	after := configFor(t, bundle(t, fx.policy.Spec(), revoked), options{})

	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		h := start(t, vm, before)
		mustForward(t, send(t, h, "POST", apiBase+"/search", bearer("tok_user")))
		h.Close()

		// The host loads the new configuration into a new plugin context of the same VM.
		h = start(t, vm, after)
		res := send(t, h, "POST", apiBase+"/search", bearer("tok_user"))
		mustDeny(t, res, 401, core.ReasonRevokedToken)
		var body map[string]string
		if err := json.Unmarshal(res.Reply.Body, &body); err != nil || body["reason"] != "revoked_token" {
			t.Errorf("body = %s, want reason revoked_token", res.Reply.Body)
		}
	})
}
