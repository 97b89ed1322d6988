package webhook

import (
	"errors"
	"net/http"
	"sync/atomic"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// readiness is what /readyz waits for: a replica is ready only once TLS
// serves a valid certificate and the caches it answers from are synced, so
// a new replica never answers with a stale "class missing" warning, and it
// turns unready at once when shutting down.
type readiness struct {
	server      healthz.Checker
	classes     cache.Informer
	nodes       cache.Informer // nil without node checks
	certificate healthz.Checker
	closing     *atomic.Bool
}

func addReadiness(mgr manager.Manager, r readiness) error {
	checks := []struct {
		name  string
		check healthz.Checker
	}{
		{"webhook", r.server},
		{"priorityclass-cache", func(*http.Request) error {
			if !r.classes.HasSynced() {
				return errors.New("PriorityClass cache not synced")
			}
			return nil
		}},
		{"node-cache", func(*http.Request) error {
			if r.nodes != nil && !r.nodes.HasSynced() {
				return errors.New("node cache not synced")
			}
			return nil
		}},
		{"serving-certificate", r.certificate},
		{"shutdown", func(*http.Request) error {
			if r.closing.Load() {
				return errors.New("shutting down")
			}
			return nil
		}},
	}
	for _, c := range checks {
		if err := mgr.AddReadyzCheck(c.name, c.check); err != nil {
			return err
		}
	}
	return nil
}
