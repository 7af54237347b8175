package output

import "github.com/prometheus/client_golang/prometheus"

// Metrics count each output's deliveries, failures and drops (by output:
// "webhook URL" without credentials, or "syslog ADDR").
type Metrics struct {
	sentC, failedC, droppedC *prometheus.CounterVec
	queued                   *prometheus.GaugeVec
}

// NewMetrics makes and registers the series.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		sentC: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "farmwatch_output_sent_total", Help: "Finding events delivered, by output."}, []string{"output"}),
		failedC: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "farmwatch_output_failures_total",
			Help: "Failed delivery attempts (each is retried), by output."}, []string{"output"}),
		droppedC: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "farmwatch_output_dropped_total",
			Help: "Finding events dropped because the output's queue was full, by output."}, []string{"output"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "farmwatch_output_queued", Help: "Finding events waiting, by output."}, []string{"output"}),
	}
	for _, c := range []prometheus.Collector{m.sentC, m.failedC, m.droppedC, m.queued} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) sent(o string) {
	if m != nil {
		m.sentC.WithLabelValues(o).Inc()
	}
}

func (m *Metrics) failed(o string) {
	if m != nil {
		m.failedC.WithLabelValues(o).Inc()
	}
}

func (m *Metrics) drop(o string, n int) {
	if m != nil {
		m.droppedC.WithLabelValues(o).Add(float64(n))
	}
}

func (m *Metrics) setQueued(o string, n int) {
	if m != nil {
		m.queued.WithLabelValues(o).Set(float64(n))
	}
}
