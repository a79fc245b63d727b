//go:build !wasm

package filter_test

import (
	"bytes"
	"context"
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

// forEachFaultyVM runs test with the listed host calls failing: in process, where they fail
// in the filter's host interface, and for the built module, where moduleHost fails them. The
// SDK's emulator never fails these calls. The Host has pluginConfig loaded, whether or not the
// filter accepted it.
func forEachFaultyVM(t *testing.T, pluginConfig []byte, faults []filter.Fault, test func(t *testing.T, h filterHost)) {
	t.Helper()
	t.Run("go", func(t *testing.T) { test(t, startAny(t, filter.NewFaultyVMContext(faults...), pluginConfig)) })
	t.Run("wasm", func(t *testing.T) { test(t, startModuleHost(t, pluginConfig, faults...)) })
}

func TestFilter_FailedHostCallsAnswer503(t *testing.T) {
	tests := []struct {
		name    string
		fault   filter.Fault
		opts    options
		headers []core.Header
		wantLog string
	}{
		{"header read", filter.FaultRequestHeaders, options{}, []core.Header{bearer("tok_user")}, "read the request headers"},
		{"property read", filter.FaultProperty, options{}, []core.Header{bearer("tok_user")}, "request.time"},
		{"header removal", filter.FaultRemoveHeader, options{}, []core.Header{bearer("tok_user"), header("X-Tokengate-User", forgedValue)}, "remove x-tokengate-user"},
		{"identity header write", filter.FaultReplaceHeader, options{}, []core.Header{bearer("tok_user")}, "set X-Tokengate-Token-Id"},
		{"header read in shadow mode", filter.FaultRequestHeaders, options{shadow: true}, []core.Header{bearer("tok_user")}, "read the request headers"},
		{"header removal in shadow mode", filter.FaultRemoveHeader, options{shadow: true}, []core.Header{header("X-Tokengate-User", forgedValue)}, "remove x-tokengate-user"},
		{"shadow reason write", filter.FaultReplaceHeader, options{shadow: true}, nil, "set X-Tokengate-Shadow-Reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachFaultyVM(t, config(t, tt.opts), []filter.Fault{tt.fault}, func(t *testing.T, h filterHost) {
				if !h.Started() {
					t.Fatalf("the filter rejected the configuration; logs: %v", h.Logs())
				}
				res := send(t, h, "POST", apiBase+"/search", tt.headers...)
				mustDeny(t, res, 503, core.ReasonNotConfigured)
				checkReplyFormat(t, res.Reply, core.ReasonNotConfigured)
				checkHostFailure(t, res, tt.wantLog)
			})
		})
	}
}

func TestFilter_FailedReplyStaysPaused(t *testing.T) {
	forEachFaultyVM(t, config(t, options{}), []filter.Fault{filter.FaultSendReply}, func(t *testing.T, h filterHost) {
		res := send(t, h, "POST", apiBase+"/search")
		if res.Action != types.ActionPause {
			t.Errorf("action = %d, want pause", res.Action)
		}
		if res.Continued() {
			t.Error("the request was forwarded after the reply failed")
		}
		checkHostFailure(t, res, "send the 401 missing_token reply")
	})
}

func TestFilter_FailedConfigurationReadFailsStart(t *testing.T) {
	forEachFaultyVM(t, config(t, options{}), []filter.Fault{filter.FaultPluginConfiguration}, func(t *testing.T, h filterHost) {
		if h.Started() {
			t.Fatal("the filter started without reading its configuration")
		}
		if errs := strings.Join(h.Logs()["error"], "\n"); !strings.Contains(errs, "read the plugin configuration") {
			t.Errorf("error logs = %q, want one naming the failed configuration read", errs)
		}
		if got := h.Counter(filter.MetricConfigFailures); got != 1 {
			t.Errorf("%s = %d, want 1", filter.MetricConfigFailures, got)
		}
		res := send(t, h, "POST", apiBase+"/search", bearer("tok_user"))
		mustDeny(t, res, 503, core.ReasonNotConfigured)
	})
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
	before := config(t, options{})
	after := configFor(t, bundle(t, fx.policy.Spec(), revokedUserTokens(t)), options{})

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

// TestFilter_NewConfigurationOnlyForNewRequests starts a second plugin context with a
// configuration that revokes tok_user while an HTTP context of the first is open, as a proxy
// does when the configuration changes. The open request keeps the configuration it started
// with, and the next one gets the new one.
func TestFilter_NewConfigurationOnlyForNewRequests(t *testing.T) {
	before := config(t, options{})
	after := configFor(t, bundle(t, fx.policy.Spec(), revokedUserTokens(t)), options{})
	request := emulator.Pairs("POST", apiBase+"/search", []core.Header{bearer("tok_user")})
	check := func(t *testing.T, inFlight, next emulator.Result) {
		t.Helper()
		mustForward(t, inFlight)
		if got := only(t, inFlight, core.HeaderTokenID); got != "tok_user" {
			t.Errorf("the request in flight got %s = %q, want tok_user", core.HeaderTokenID, got)
		}
		mustDeny(t, next, 401, core.ReasonRevokedToken)
		checkReplyFormat(t, next.Reply, core.ReasonRevokedToken)
	}

	t.Run("go", func(t *testing.T) {
		vm := filter.NewReconfigurableVMContext()
		h := start(t, vm, before)
		inFlight, err := h.NewStream()
		if err != nil {
			t.Fatal(err)
		}
		if status := vm.StartPlugin(after); status != types.OnPluginStartStatusOK {
			t.Fatalf("the second configuration failed: %v", h.Logs()["error"])
		}
		next, err := h.NewStream()
		if err != nil {
			t.Fatal(err)
		}
		inFlightResult, err := inFlight.Do(request, fx.now)
		if err != nil {
			t.Fatal(err)
		}
		nextResult, err := next.Do(request, fx.now)
		if err != nil {
			t.Fatal(err)
		}
		check(t, inFlightResult, nextResult)
	})

	t.Run("wasm", func(t *testing.T) {
		ctx := context.Background()
		h := startModuleHost(t, before)
		if !h.Started() {
			t.Fatalf("the first configuration failed: %v", h.Logs()["error"])
		}
		inFlight, err := h.newStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if started, err := h.startPlugin(ctx, after); err != nil || !started {
			t.Fatalf("the second configuration failed (error %v): %v", err, h.Logs()["error"])
		}
		next, err := h.newStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		now := filter.EncodeRequestTime(fx.now)
		inFlightResult, err := h.send(ctx, inFlight, request, now)
		if err != nil {
			t.Fatal(err)
		}
		nextResult, err := h.send(ctx, next, request, now)
		if err != nil {
			t.Fatal(err)
		}
		check(t, inFlightResult, nextResult)
	})
}

// revokedUserTokens returns the fixture's tokens with tok_user revoked a minute before the
// fixture's instant.
func revokedUserTokens(t *testing.T) []core.Token {
	t.Helper()
	tokens := append([]core.Token(nil), fx.tokens...)
	for i := range tokens {
		if tokens[i].ID == "tok_user" {
			tokens[i].RevokedAt = fx.now.Add(-time.Minute)
			return tokens
		}
	}
	t.Fatal("the fixture has no tok_user")
	return nil
}
