package kube

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Leases is what an Elector reads and writes its Lease through.
type Leases interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error)
	Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error)
	Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error)
}

// Elector runs work on one replica at a time, the holder of a Lease: the
// algorithm of client-go's leaderelection (which cannot be linked without
// the Clientset), with its defaults. A Lease another holder renewed is
// taken only once LeaseDuration has passed, on this replica's clock, since
// this replica last saw it change; a leader that cannot renew within
// RenewDeadline (shorter than LeaseDuration) stops its work before anyone
// else may take the Lease. Unlike controller-runtime's manager, which exits
// when it loses the Lease, an Elector stops the work and stands again: the
// webhook on this replica keeps serving.
type Elector struct {
	Leases   Leases
	Name     string // of the Lease, in the namespace Leases is bound to
	Identity string // this replica's, unique among the replicas
	// LeaseDuration (15s), RenewDeadline (10s) and RetryPeriod (2s) are
	// controller-runtime's defaults when zero.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Log                                       logr.Logger

	mu       sync.Mutex
	observed *coordinationv1.Lease // the Lease as last read or written
	seenAt   time.Time             // when observed last changed, on this clock
	leading  bool
}

// Leading reports whether this replica holds the Lease and runs the work.
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

func (e *Elector) defaults() error {
	if e.LeaseDuration == 0 {
		e.LeaseDuration = 15 * time.Second
	}
	if e.RenewDeadline == 0 {
		e.RenewDeadline = 10 * time.Second
	}
	if e.RetryPeriod == 0 {
		e.RetryPeriod = 2 * time.Second
	}
	switch {
	case e.Leases == nil || e.Name == "" || e.Identity == "":
		return errors.New("leader election needs a Lease client, a name and an identity")
	case e.LeaseDuration <= e.RenewDeadline:
		return errors.New("the lease duration must be longer than the renew deadline")
	case e.RenewDeadline <= e.RetryPeriod*12/10:
		return errors.New("the renew deadline must be longer than 1.2 retry periods")
	}
	return nil
}

// Run stands for the Lease until ctx ends, running work while it holds it.
// work's context ends when the Lease is lost or ctx ends; Run waits for work
// to return before it stands again, and, at the end, before it releases
// the Lease so that another replica takes over at once.
func (e *Elector) Run(ctx context.Context, work func(context.Context)) error {
	if err := e.defaults(); err != nil {
		return err
	}
	for {
		if !e.acquire(ctx) {
			return nil // ctx ended
		}
		e.setLeading(true)
		e.Log.Info("became leader", "lease", e.Name, "identity", e.Identity)
		workCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			work(workCtx)
		}()
		lost := e.renew(workCtx)
		stop()
		<-done
		e.setLeading(false)
		if !lost {
			e.release()
			return nil
		}
		e.Log.Info("lost the lease: stopped leading, standing again", "lease", e.Name)
	}
}

func (e *Elector) setLeading(v bool) {
	e.mu.Lock()
	e.leading = v
	e.mu.Unlock()
}

// acquire tries every RetryPeriod (with jitter) until it holds the Lease;
// false when ctx ended first.
func (e *Elector) acquire(ctx context.Context) bool {
	for {
		if e.tryAcquireOrRenew(ctx) {
			return true
		}
		jitter := time.Duration(rand.Float64() * 0.2 * float64(e.RetryPeriod))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(e.RetryPeriod + jitter):
		}
	}
}

// renew renews every RetryPeriod; true when a renewal did not succeed
// within RenewDeadline (the Lease is lost), false when ctx ended.
func (e *Elector) renew(ctx context.Context) (lost bool) {
	tick := time.NewTicker(e.RetryPeriod)
	defer tick.Stop()
	lastRenewed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
		attempt, cancel := context.WithDeadline(ctx, lastRenewed.Add(e.RenewDeadline))
		ok := e.tryAcquireOrRenew(attempt)
		cancel()
		switch {
		case ok:
			lastRenewed = time.Now()
		case ctx.Err() != nil:
			return false
		case time.Since(lastRenewed) >= e.RenewDeadline:
			return true
		}
	}
}

// tryAcquireOrRenew is client-go's: take or renew the Lease unless another
// holder's is still valid.
func (e *Elector) tryAcquireOrRenew(ctx context.Context) bool {
	now := time.Now()
	lease, err := e.Leases.Get(ctx, e.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		created, err := e.Leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: e.Name},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: ptr.To(e.Identity), LeaseDurationSeconds: ptr.To(int32(e.LeaseDuration / time.Second)),
				AcquireTime: ptr.To(metav1.NewMicroTime(now)), RenewTime: ptr.To(metav1.NewMicroTime(now)), LeaseTransitions: ptr.To(int32(0)),
			},
		}, metav1.CreateOptions{})
		if err != nil {
			e.Log.V(1).Info("creating the lease failed", "lease", e.Name, "error", err.Error())
			return false
		}
		e.observe(created, now)
		return true
	}
	if err != nil {
		e.Log.V(1).Info("reading the lease failed", "lease", e.Name, "error", err.Error())
		return false
	}
	e.observe(lease, now)
	holder := ptr.Deref(lease.Spec.HolderIdentity, "")
	e.mu.Lock()
	valid := now.Before(e.seenAt.Add(e.LeaseDuration))
	e.mu.Unlock()
	if holder != "" && holder != e.Identity && valid {
		return false
	}
	next := lease.DeepCopy()
	if holder != e.Identity {
		next.Spec.AcquireTime = ptr.To(metav1.NewMicroTime(now))
		next.Spec.LeaseTransitions = ptr.To(ptr.Deref(lease.Spec.LeaseTransitions, 0) + 1)
	}
	next.Spec.HolderIdentity = ptr.To(e.Identity)
	next.Spec.LeaseDurationSeconds = ptr.To(int32(e.LeaseDuration / time.Second))
	next.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
	updated, err := e.Leases.Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		e.Log.V(1).Info("updating the lease failed", "lease", e.Name, "error", err.Error())
		return false
	}
	e.observe(updated, now)
	return true
}

// observe records the Lease as read or written; seenAt moves only when its
// record changed (client-go compares the record too), so that validity is
// judged on this clock, never on the holder's.
func (e *Elector) observe(lease *coordinationv1.Lease, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.observed == nil || !equality.Semantic.DeepEqual(e.observed.Spec, lease.Spec) {
		e.observed, e.seenAt = lease, now
	}
}

// release gives the Lease up (no holder, a one-second duration), as
// client-go's ReleaseOnCancel does, if this replica still holds it.
func (e *Elector) release() {
	ctx, cancel := context.WithTimeout(context.Background(), e.RenewDeadline)
	defer cancel()
	for range 3 { // a conflict is retried
		lease, err := e.Leases.Get(ctx, e.Name, metav1.GetOptions{})
		if err != nil || ptr.Deref(lease.Spec.HolderIdentity, "") != e.Identity {
			return
		}
		now := metav1.NewMicroTime(time.Now())
		lease.Spec.HolderIdentity = nil
		lease.Spec.LeaseDurationSeconds = ptr.To(int32(1))
		lease.Spec.RenewTime, lease.Spec.AcquireTime = &now, &now
		if _, err = e.Leases.Update(ctx, lease, metav1.UpdateOptions{}); err == nil {
			e.Log.Info("released the lease", "lease", e.Name)
			return
		} else if !apierrors.IsConflict(err) {
			e.Log.Error(fmt.Errorf("releasing the lease %s: %w", e.Name, err), "another replica takes over once it expires")
			return
		}
	}
}
