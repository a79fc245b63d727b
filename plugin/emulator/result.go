package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/plugin/filter"
)

// Result is the outcome of one request through the filter.
type Result struct {
	// Action is the value OnHttpRequestHeaders returned.
	Action types.Action
	// Reply is the local reply the filter sent, or nil when it sent none.
	Reply *Reply
	// Forwarded is the request header list after the filter ran: what goes upstream when the
	// request continues. The emulator lowercases every name.
	Forwarded [][2]string
	// Logs are the lines the filter logged while it handled the request.
	Logs []LogLine
	// Counters maps each counter that grew during the request to its increment.
	Counters map[string]uint64
}

// Reply is a local reply sent by the filter. The emulator lowercases header names.
type Reply struct {
	Status  int
	Headers [][2]string
	Body    []byte
}

// Header returns the values of the reply's fields named name, compared without regard to case.
func (r *Reply) Header(name string) []string { return headerValues(r.Headers, name) }

// LogLine is one line the filter logged.
type LogLine struct {
	// Level is the log level name, such as "info".
	Level   string
	Message string
}

// Continued reports whether the request goes upstream: the filter continued and sent no reply.
func (r Result) Continued() bool { return r.Action == types.ActionContinue && r.Reply == nil }

// Header returns the values of the forwarded fields named name, compared without regard to case.
func (r Result) Header(name string) []string { return headerValues(r.Forwarded, name) }

func headerValues(pairs [][2]string, name string) []string {
	var out []string
	for _, kv := range pairs {
		if strings.EqualFold(kv[0], name) {
			out = append(out, kv[1])
		}
	}
	return out
}

// Decision reads the filter's decision back from its outputs, for a filter that is not in
// shadow mode. The reason comes from the decision counter that grew. A denial's status and
// error come from the reply and its body, its token id and permission from the denial log
// line, and the scope of scope_missing from the challenge. An allow's fields come from the
// identity headers. It returns an error when the outputs disagree or are incomplete, for
// example after a failed host call, which counts no decision.
func (r Result) Decision() (core.Decision, error) {
	reason, err := r.countedReason()
	if err != nil {
		return core.NotConfigured(), err
	}
	if r.Reply != nil {
		return r.denial(reason)
	}
	if !r.Continued() {
		return core.NotConfigured(), fmt.Errorf("the filter neither replied nor continued (action %d)", r.Action)
	}
	return r.allow(reason)
}

// countedReason returns the reason of the one decision counter that grew by one.
func (r Result) countedReason() (core.Reason, error) {
	var found []core.Reason
	for _, reason := range core.AllReasons() {
		switch r.Counters[filter.DecisionMetric(reason)] {
		case 0:
		case 1:
			found = append(found, reason)
		default:
			return 0, fmt.Errorf("the filter counted %s %d times for one request", reason, r.Counters[filter.DecisionMetric(reason)])
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("the filter counted %d decisions for one request, want 1 (logs: %v)", len(found), r.Logs)
	}
	return found[0], nil
}

func (r Result) denial(reason core.Reason) (core.Decision, error) {
	var body struct {
		Error   string `json:"error"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.Reply.Body, &body); err != nil {
		return core.NotConfigured(), fmt.Errorf("the %d reply body is not JSON: %w", r.Reply.Status, err)
	}
	if body.Reason != reason.String() {
		return core.NotConfigured(), fmt.Errorf("the reply body has reason %q but the filter counted %s", body.Reason, reason)
	}
	d := core.Decision{Status: r.Reply.Status, Reason: reason, Error: body.Error}
	line, err := r.denialLine(reason)
	if err != nil {
		return core.NotConfigured(), err
	}
	d.TokenID = line.TokenID
	if line.Permission != "" {
		if d.Permission, err = core.ParsePermission(line.Permission); err != nil {
			return core.NotConfigured(), fmt.Errorf("denial log line: %w", err)
		}
	}
	if reason == core.ReasonScopeMissing {
		if d.Scope, err = challengeScope(r.Reply.Header("WWW-Authenticate")); err != nil {
			return core.NotConfigured(), err
		}
	}
	return d, nil
}

// denialLine returns the parsed denial line the filter logged for this request.
func (r Result) denialLine(reason core.Reason) (filter.Denial, error) {
	for _, l := range r.Logs {
		d, err := filter.ParseDenial(l.Message)
		if err == nil && d.Reason == reason {
			return d, nil
		}
	}
	return filter.Denial{}, fmt.Errorf("the filter logged no denial line with reason %s (logs: %v)", reason, r.Logs)
}

// challengeScope returns the scope parameter of the one WWW-Authenticate value.
func challengeScope(values []string) (core.Scope, error) {
	if len(values) != 1 {
		return 0, fmt.Errorf("the reply has %d WWW-Authenticate fields, want 1", len(values))
	}
	_, rest, ok := strings.Cut(values[0], `scope="`)
	if !ok {
		return 0, fmt.Errorf("the challenge %q has no scope parameter", values[0])
	}
	name, _, ok := strings.Cut(rest, `"`)
	if !ok {
		return 0, fmt.Errorf("the challenge %q has an unterminated scope parameter", values[0])
	}
	return core.ParseScope(name)
}

func (r Result) allow(reason core.Reason) (core.Decision, error) {
	d := core.Decision{Allow: true, Status: 200, Reason: reason}
	if reason != core.ReasonOK {
		return d, nil
	}
	var err error
	d.TokenID, err = r.single(core.HeaderTokenID)
	if err != nil {
		return core.NotConfigured(), err
	}
	permission, err := r.single(core.HeaderPermission)
	if err != nil {
		return core.NotConfigured(), err
	}
	if d.Permission, err = core.ParsePermission(permission); err != nil {
		return core.NotConfigured(), err
	}

	scope, err := r.single(core.HeaderScope)
	if err != nil {
		return core.NotConfigured(), err
	}
	if d.Scope, err = core.ParseScope(scope); err != nil {
		return core.NotConfigured(), err
	}

	switch users := r.Header(core.HeaderUser); len(users) {
	case 0:
	case 1:
		d.Principal = users[0]
	default:
		return core.NotConfigured(), errors.New("the forwarded request has more than one X-Tokengate-User field")
	}
	return d, nil
}

// single returns the value of the one forwarded field named name.
func (r Result) single(name string) (string, error) {
	values := r.Header(name)
	if len(values) != 1 {
		return "", fmt.Errorf("the forwarded request has %d %s fields, want 1", len(values), name)
	}
	return values[0], nil
}
