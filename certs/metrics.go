package certs

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the certificate metrics: what the webhook serves and how its
// reloads went. An expiry timestamp minus time() is the alert: nothing
// renewed the certificate while there was time.
type Metrics struct {
	expiry       prometheus.Gauge
	reloads      prometheus.Counter
	reloadErrors prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		expiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "daemonguard_serving_certificate_expiry_timestamp_seconds",
			Help: "Unix time the serving certificate in use expires (0 until one is loaded).",
		}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "daemonguard_certificate_reloads_total",
			Help: "Serving certificates loaded from the certificate directory, the first one included.",
		}),
		reloadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "daemonguard_certificate_reload_errors_total",
			Help: "Changed certificate files that failed to load; the previous certificate stays in use.",
		}),
	}
	for _, c := range []prometheus.Collector{m.expiry, m.reloads, m.reloadErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) reloaded(notAfter time.Time) {
	if m == nil {
		return
	}
	m.reloads.Inc()
	m.expiry.Set(float64(notAfter.Unix()))
}

func (m *Metrics) reloadFailed() {
	if m == nil {
		return
	}
	m.reloadErrors.Inc()
}
