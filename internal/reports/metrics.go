package reports

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is the Reporter's view of the cluster as a gauge, and how current
// the Reports are. Only the replica that holds the lease reports them; the
// others export no findings and a sync time of 0.
type Metrics struct {
	withFindings *prometheus.GaugeVec
	synced       prometheus.Gauge
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{withFindings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "daemonguard_daemonsets_with_findings",
		Help: "Existing DaemonSets with at least one finding, by rule and by what the policy does about it (deny, warn, audit), as if each were created now. Exported by the replica that writes the Reports.",
	}, []string{"rule", "action"}),
		synced: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "daemonguard_reports_synced_timestamp_seconds",
			Help: "Unix time the Reports last matched every DaemonSet and the policy the Reporter had seen (nothing queued, nothing being written, no namespace failing). Advances on the replica that writes the Reports; 0 elsewhere. Stops advancing when Reports fall behind.",
		}),
	}
	for _, c := range []prometheus.Collector{m.withFindings, m.synced} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) syncedAt(t time.Time) {
	if m == nil {
		return
	}
	m.synced.Set(float64(t.Unix()))
}

func (m *Metrics) set(total map[ruleAction]int) {
	m.withFindings.Reset()
	for k, n := range total {
		m.withFindings.WithLabelValues(k.rule, k.action).Set(float64(n))
	}
}
