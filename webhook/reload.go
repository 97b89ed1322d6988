package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
)

// PolicySource holds the policy in force and replaces it when the policy file
// changes. A file that fails to load never replaces a good policy: the error
// is logged and counted, and the last good policy keeps serving.
type PolicySource struct {
	path    string
	opts    policy.Options
	metrics *Metrics
	log     logr.Logger

	current atomic.Pointer[policy.Policy]
	// lastRead is the file content last tried, good or bad, so an unchanged
	// bad file is reported once, not at every poll.
	lastRead []byte
}

// NewPolicySource loads the policy file at path (the built-in defaults when
// path is empty). The first load must succeed: daemonguard never starts with
// a policy it could not read.
func NewPolicySource(path string, opts policy.Options, m *Metrics, log logr.Logger) (*PolicySource, error) {
	s := &PolicySource{path: path, opts: opts, metrics: m, log: log.WithName("policy")}
	if path == "" {
		p, err := policy.New(config.Defaults(), opts)
		if err != nil {
			return nil, err
		}
		s.current.Store(p)
		m.reloaded(true, float64(time.Now().Unix()))
		return s, nil
	}
	data, err := readPolicy(path)
	if err != nil {
		return nil, err
	}
	if err := s.apply(data); err != nil {
		return nil, err
	}
	return s, nil
}

// MaxPolicyBytes bounds a policy file: a ConfigMap holds at most 1 MiB, and
// a larger file is neither read whole nor parsed at every poll.
const MaxPolicyBytes = 1 << 20

// readPolicy reads the policy file, refusing one over MaxPolicyBytes.
func readPolicy(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	if len(data) > MaxPolicyBytes {
		return nil, fmt.Errorf("reading policy: %s is over %d bytes (a ConfigMap holds at most 1 MiB)", path, MaxPolicyBytes)
	}
	return data, nil
}

// Current returns the policy in force.
func (s *PolicySource) Current() *policy.Policy { return s.current.Load() }

func (s *PolicySource) apply(data []byte) error {
	s.lastRead = data
	cfg, err := config.Parse(data)
	if err == nil {
		var p *policy.Policy
		if p, err = policy.New(cfg, s.opts); err == nil {
			s.current.Store(p)
			s.metrics.reloaded(true, float64(time.Now().Unix()))
			return nil
		}
	}
	s.metrics.reloaded(false, 0)
	return fmt.Errorf("%s: %w", s.path, err)
}

// Watch polls the policy file every interval until ctx ends. Polling, rather
// than inotify, follows the symlink swap a ConfigMap volume does on update,
// and costs one small read per interval.
func (s *PolicySource) Watch(ctx context.Context, interval time.Duration) {
	if s.path == "" {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := readPolicy(s.path)
		if err != nil {
			if s.lastRead != nil {
				s.log.Error(err, "policy file unreadable; keeping the policy in force")
				s.metrics.reloaded(false, 0)
				s.lastRead = nil
			}
			continue
		}
		if bytes.Equal(data, s.lastRead) {
			continue
		}
		if err := s.apply(data); err != nil {
			s.log.Error(err, "new policy rejected; keeping the policy in force")
			continue
		}
		s.log.Info("policy reloaded", "path", s.path)
	}
}
