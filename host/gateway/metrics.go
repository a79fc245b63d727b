package gateway

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tokengate/tokengate/core"
)

// metrics holds the gateway's Prometheus collectors on a private registry, so that two
// gateways in one process (as in tests) never share counters.
type metrics struct {
	registry        *prometheus.Registry
	decisions       *prometheus.CounterVec
	decisionSeconds prometheus.Histogram
	engineErrors    prometheus.Counter
	upstreamErrors  prometheus.Counter
	reloads         *prometheus.CounterVec
	lastReload      prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokengate_decisions_total",
			Help: "Decisions made, by reason code.",
		}, []string{"reason"}),
		decisionSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tokengate_decision_duration_seconds",
			Help: "Time the engine took to decide one request, in seconds.",
			// 1 µs to about 0.26 s: native decisions take microseconds, wasm calls more.
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10),
		}),
		engineErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokengate_engine_errors_total",
			Help: "Requests answered 503 because the engine failed to decide.",
		}),
		upstreamErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokengate_upstream_errors_total",
			Help: "Allowed requests answered 502 because the upstream could not be reached.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokengate_reloads_total",
			Help: "Configuration reloads, by result: success or failure.",
		}, []string{"result"}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokengate_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last configuration that was loaded and put in force.",
		}),
	}
	m.registry.MustRegister(m.decisions, m.decisionSeconds, m.engineErrors, m.upstreamErrors,
		m.reloads, m.lastReload,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Pre-create every series, so dashboards see zeros instead of gaps.
	for _, r := range core.AllReasons() {
		m.decisions.WithLabelValues(r.String())
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	return m
}

func (m *metrics) observeDecision(d core.Decision, elapsed time.Duration) {
	m.decisions.WithLabelValues(d.Reason.String()).Inc()
	m.decisionSeconds.Observe(elapsed.Seconds())
}

func (m *metrics) observeReload(ok bool) {
	if !ok {
		m.reloads.WithLabelValues("failure").Inc()
		return
	}
	m.reloads.WithLabelValues("success").Inc()
	m.lastReload.SetToCurrentTime()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
