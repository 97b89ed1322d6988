package webhook

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/rest"

	"github.com/daemonguard/daemonguard/internal/kube"
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

// reporterPart is the Reporter, run by the replica that holds the Lease
// daemonguard-reports in the webhook's namespace; nil when reports are off.
// synced waits for the informers the policy reads (PriorityClasses,
// Nodes): the Reporter starts once they are, as it did under
// controller-runtime's manager, which started leader work after its caches
// synced. Otherwise its first Reports would miss the node-aware findings.
func reporterPart(cs *kube.Clientset, cfg *rest.Config, opts Options, source *PolicySource, synced func(context.Context) bool,
	reg prometheus.Registerer, log logr.Logger) (*part, error) {
	ro := opts.Reports
	if !ro.Enabled {
		return nil, nil
	}
	if opts.Namespace == "" {
		return nil, errors.New("reports need the webhook's namespace (--namespace or $POD_NAMESPACE) for their leader-election Lease")
	}
	m, err := reports.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	r := reports.NewReporter(cfg, reports.Options{
		Policy: source.Current, WritesPerSecond: ro.WritesPerSecond, Burst: ro.Burst, MaxResults: ro.MaxResults,
		PolicyPollInterval: time.Second, Metrics: m, QueueMetrics: reg, Log: log.WithName("reports"),
	})
	if ro.Reporter != nil {
		ro.Reporter(r)
	}
	identity, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("leader election identity: %w", err)
	}
	// Unique among the replicas even on one host (tests run several).
	identity += "_" + string(uuid.NewUUID())
	elector := &kube.Elector{Leases: cs.Leases(opts.Namespace), Name: "daemonguard-reports", Identity: identity, Log: log.WithName("leader-election")}
	return &part{"reports leader election", func(ctx context.Context) error {
		if !synced(ctx) {
			return nil // ctx ended first
		}
		return elector.Run(ctx, func(ctx context.Context) {
			if err := r.Start(ctx); err != nil {
				log.Error(err, "reporter stopped")
			}
		})
	}}, nil
}
