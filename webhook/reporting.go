package webhook

import (
	"errors"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/daemonguard/daemonguard/internal/reports"
)

// ReportsOptions configure the background Reporter: one replica, elected
// with a Lease in the webhook's namespace, keeps an OpenReports Report per
// namespace for the DaemonSets already running.
type ReportsOptions struct {
	Enabled bool
	// WritesPerSecond and Burst bound the Reporter's writes.
	WritesPerSecond float64
	Burst           int
	// MaxResults bounds the results in one Report.
	MaxResults int
	// Reporter, when set, receives the Reporter once created (tests).
	Reporter func(*reports.Reporter)
}

func addReporter(mgr manager.Manager, cfg *rest.Config, opts Options, source *PolicySource, reg prometheus.Registerer, log logr.Logger) error {
	ro := opts.Reports
	if !ro.Enabled {
		return nil
	}
	if opts.Namespace == "" {
		return errors.New("reports need the webhook's namespace (--namespace or $POD_NAMESPACE) for their leader-election Lease")
	}
	m, err := reports.NewMetrics(reg)
	if err != nil {
		return err
	}
	r := reports.NewReporter(cfg, reports.Options{
		Policy: source.Current, WritesPerSecond: ro.WritesPerSecond, Burst: ro.Burst, MaxResults: ro.MaxResults,
		PolicyPollInterval: time.Second, Metrics: m, QueueMetrics: reg, Log: log.WithName("reports"),
	})
	if ro.Reporter != nil {
		ro.Reporter(r)
	}
	return mgr.Add(r)
}
