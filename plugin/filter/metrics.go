package filter

import (
	"fmt"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

	"github.com/tokengate/tokengate/core"
)

// Names of the filter's counters. Every name is fixed when the plugin starts, so no user,
// token or path can ever appear in one. Envoy files them under its "wasmcustom." stats
// namespace, which its Prometheus output leaves out.
const (
	// MetricConfigLoads counts configurations that loaded.
	MetricConfigLoads = "tokengate_config_loads"
	// MetricConfigFailures counts plugin starts that failed: a rejected configuration, or a
	// failed read of it from the host.
	MetricConfigFailures = "tokengate_config_failures"
	// MetricHostCallFailures counts host calls that failed while a request was decided or
	// replied to, and internal errors of the filter. Each such request gets a 503 reply, or
	// stays paused when sending the reply is what failed.
	MetricHostCallFailures = "tokengate_host_call_failures"
	// MetricShadowDenials counts denials that shadow mode forwarded.
	MetricShadowDenials = "tokengate_shadow_denials"

	decisionMetricPrefix = "tokengate_decisions_"
)

// DecisionMetric returns the name of the counter of decisions with reason r, such as
// "tokengate_decisions_scope_missing".
func DecisionMetric(r core.Reason) string {
	if !r.Valid() {
		return decisionMetricPrefix + r.String()
	}
	return decisionMetricNames[r]
}

// decisionMetricNames holds the counter name of each reason. The names stay reachable for the
// life of the VM, because the SDK's emulator keeps a pointer into module memory as the name of
// a metric instead of a copy.
var decisionMetricNames = func() (names [core.NumReasons]string) {
	for _, r := range core.AllReasons() {
		names[r] = decisionMetricPrefix + r.String()
	}
	return names
}()

// MetricNames returns the name of every counter the filter defines, decisions first.
func MetricNames() []string {
	names := make([]string, 0, core.NumReasons+4)
	for _, r := range core.AllReasons() {
		names = append(names, DecisionMetric(r))
	}
	return append(names, MetricConfigLoads, MetricConfigFailures, MetricHostCallFailures, MetricShadowDenials)
}

// metrics holds the counter ids one plugin start defined. A nil *metrics counts nothing.
type metrics struct {
	decisions        [core.NumReasons]proxywasm.MetricCounter
	configLoads      proxywasm.MetricCounter
	configFailures   proxywasm.MetricCounter
	hostCallFailures proxywasm.MetricCounter
	shadowDenials    proxywasm.MetricCounter
	// failed is set after the first failed increment, so the failure is logged once.
	failed bool
}

// defineMetrics defines every counter with the host. The SDK panics when the host rejects a
// definition, so the panic is turned into the returned error.
func defineMetrics() (m *metrics, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("define counters: %v", r)
		}
	}()
	m = &metrics{}
	for _, r := range core.AllReasons() {
		m.decisions[r] = proxywasm.DefineCounterMetric(DecisionMetric(r))
	}
	m.configLoads = proxywasm.DefineCounterMetric(MetricConfigLoads)
	m.configFailures = proxywasm.DefineCounterMetric(MetricConfigFailures)
	m.hostCallFailures = proxywasm.DefineCounterMetric(MetricHostCallFailures)
	m.shadowDenials = proxywasm.DefineCounterMetric(MetricShadowDenials)
	return m, nil
}

// decision counts one decision with reason r.
func (m *metrics) decision(r core.Reason) {
	if m != nil && r.Valid() {
		m.increment(m.decisions[r])
	}
}

// increment adds one to a counter. A failed increment never fails the request: the SDK's
// panic is recovered and the first one is logged.
func (m *metrics) increment(c proxywasm.MetricCounter) {
	if m == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil && !m.failed {
			m.failed = true
			proxywasm.LogErrorf("tokengate: increment counter %d: %v; later counter failures are not logged", uint32(c), r)
		}
	}()
	c.Increment(1)
}
