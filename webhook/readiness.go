package webhook

import (
	"errors"
	"net/http"
	"sync/atomic"

	toolscache "k8s.io/client-go/tools/cache"
)

// readiness is what /readyz waits for: a replica is ready only once TLS
// serves a valid certificate and the caches it answers from are synced, so
// a new replica never answers with a stale "class missing" warning, and it
// turns unready at once when shutting down.
type readiness struct {
	server      checker
	classes     toolscache.SharedIndexInformer
	nodes       toolscache.SharedIndexInformer // nil without node checks
	certificate checker
	closing     *atomic.Bool
}

func (r readiness) addTo(p *probes) {
	p.readyz("webhook", r.server)
	p.readyz("priorityclass-cache", func(*http.Request) error {
		if !r.classes.HasSynced() {
			return errors.New("PriorityClass cache not synced")
		}
		return nil
	})
	p.readyz("node-cache", func(*http.Request) error {
		if r.nodes != nil && !r.nodes.HasSynced() {
			return errors.New("node cache not synced")
		}
		return nil
	})
	p.readyz("serving-certificate", r.certificate)
	p.readyz("shutdown", func(*http.Request) error {
		if r.closing.Load() {
			return errors.New("shutting down")
		}
		return nil
	})
}
