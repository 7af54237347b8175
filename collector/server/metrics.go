package server

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the collector's Prometheus series. They are registered on the
// registry given to NewMetrics; a Server without Metrics records nothing.
type Metrics struct {
	connected prometheus.Gauge
	messages  *prometheus.CounterVec
	apply     prometheus.Histogram
	refused   *prometheus.CounterVec
	dropped   prometheus.Gauge
	bundles   *prometheus.CounterVec

	maxDropped atomic.Uint64
}

// NewMetrics makes and registers the series.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "farmwatch_agents_connected", Help: "Agents with an open stream."}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "farmwatch_agent_messages_total", Help: "Agent messages received, by type."},
			[]string{"type"}),
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "farmwatch_apply_seconds", Help: "Time to evaluate and commit one agent message.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "farmwatch_agent_messages_refused_total", Help: "Agent messages refused, by reason."},
			[]string{"reason"}),
		dropped: prometheus.NewGauge(prometheus.GaugeOpts{Name: "farmwatch_agent_spool_dropped_max", Help: "The largest count of spool drops an agent has reported."}),
		bundles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "farmwatch_rule_bundles_total", Help: "Rule bundles agents reported loading, by result (applied or refused)."},
			[]string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.connected, m.messages, m.apply, m.refused, m.dropped, m.bundles} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) connect(d float64) {
	if m != nil {
		m.connected.Add(d)
	}
}

func (m *Metrics) message(kind string) {
	if m != nil {
		m.messages.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) applied(start time.Time) {
	if m != nil {
		m.apply.Observe(time.Since(start).Seconds())
	}
}

func (m *Metrics) refuse(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) spoolDropped(n uint64) {
	if m == nil {
		return
	}
	for {
		cur := m.maxDropped.Load()
		if n <= cur {
			return
		}
		if m.maxDropped.CompareAndSwap(cur, n) {
			m.dropped.Set(float64(n))
			return
		}
	}
}

func (m *Metrics) bundle(result string) {
	if m != nil {
		m.bundles.WithLabelValues(result).Inc()
	}
}
