package reports

import "github.com/prometheus/client_golang/prometheus"

// Metrics is the Reporter's view of the cluster as a gauge. Only the
// replica that holds the lease reports it; the others export nothing.
type Metrics struct {
	withFindings *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{withFindings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "daemonguard_daemonsets_with_findings",
		Help: "Existing DaemonSets with at least one finding, by rule and by what the policy does about it (deny, warn, audit), as if each were created now. Exported by the replica that writes the Reports.",
	}, []string{"rule", "action"})}
	if err := reg.Register(m.withFindings); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) set(total map[ruleAction]int) {
	m.withFindings.Reset()
	for k, n := range total {
		m.withFindings.WithLabelValues(k.rule, k.action).Set(float64(n))
	}
}
