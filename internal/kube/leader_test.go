package kube

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// fastElector is an Elector with durations short enough for a test.
func fastElector(leases Leases, id string) *Elector {
	return &Elector{Leases: leases, Name: "lock", Identity: id,
		LeaseDuration: 800 * time.Millisecond, RenewDeadline: 500 * time.Millisecond, RetryPeriod: 100 * time.Millisecond, Log: logr.Discard()}
}

// within waits at most d for cond.
func within(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// run starts e and returns its work's running flag and a stop that waits
// for Run to return.
func run(t *testing.T, e *Elector) (working *atomic.Bool, stop func()) {
	t.Helper()
	working = &atomic.Bool{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		done <- e.Run(ctx, func(ctx context.Context) {
			working.Store(true)
			<-ctx.Done()
			working.Store(false)
		})
	}()
	return working, func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// One of two replicas works; when it stops, it releases the Lease and the
// other takes over well before the Lease would have expired.
func TestElectorOneLeaderAndHandover(t *testing.T) {
	leases := fake.NewClientset().CoordinationV1().Leases("ns")
	a, b := fastElector(leases, "a"), fastElector(leases, "b")
	aWorks, stopA := run(t, a)
	if !within(2*time.Second, aWorks.Load) {
		t.Fatal("a never led")
	}
	bWorks, stopB := run(t, b)
	defer stopB()
	time.Sleep(3 * a.LeaseDuration) // a renews all along
	if bWorks.Load() || !aWorks.Load() {
		t.Fatalf("while a renews: a works %v, b works %v", aWorks.Load(), bWorks.Load())
	}
	stopA()
	if aWorks.Load() {
		t.Fatal("a's work still runs after Run returned")
	}
	lease, err := leases.Get(t.Context(), "lock", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := ptr.Deref(lease.Spec.HolderIdentity, ""); h != "" && h != "b" {
		t.Errorf("after a stopped the holder is %q", h)
	}
	start := time.Now()
	if !within(2*time.Second, bWorks.Load) {
		t.Fatal("b never took over")
	}
	if took := time.Since(start); took >= b.LeaseDuration {
		t.Errorf("b took over after %v: the Lease was not released", took)
	}
}

// failing is a Lease client whose calls fail while fail is set: the API
// server unreachable from one replica.
type failing struct {
	Leases
	fail atomic.Bool
}

func (f *failing) Get(ctx context.Context, name string, o metav1.GetOptions) (*coordinationv1.Lease, error) {
	if f.fail.Load() {
		return nil, errors.New("injected")
	}
	return f.Leases.Get(ctx, name, o)
}

func (f *failing) Update(ctx context.Context, l *coordinationv1.Lease, o metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	if f.fail.Load() {
		return nil, errors.New("injected")
	}
	return f.Leases.Update(ctx, l, o)
}

// A leader that cannot renew stops its work within the renew deadline,
// before the lease duration lets the other replica take over; it stands
// again, and leads again once the other gives the Lease up.
func TestElectorLosesTheLease(t *testing.T) {
	leases := fake.NewClientset().CoordinationV1().Leases("ns")
	aLeases := &failing{Leases: leases}
	a, b := fastElector(aLeases, "a"), fastElector(leases, "b")
	aWorks, stopA := run(t, a)
	defer stopA()
	if !within(2*time.Second, aWorks.Load) {
		t.Fatal("a never led")
	}
	bWorks, stopB := run(t, b)
	aLeases.fail.Store(true)
	cut := time.Now()
	if !within(2*time.Second, func() bool { return !aWorks.Load() }) {
		t.Fatal("a kept working without renewing")
	}
	stopped := time.Since(cut)
	if stopped > a.RenewDeadline+2*a.RetryPeriod {
		t.Errorf("a stopped %v after its last renewal could not be made (renew deadline %v)", stopped, a.RenewDeadline)
	}
	if !within(3*time.Second, bWorks.Load) {
		t.Fatal("b never took over")
	}
	if took := time.Since(cut); took < b.LeaseDuration-a.RetryPeriod {
		t.Errorf("b took over %v after a's last renewal, before the lease duration %v", took, b.LeaseDuration)
	}
	if aWorks.Load() {
		t.Fatal("both work")
	}
	aLeases.fail.Store(false)
	stopB()
	if !within(3*time.Second, aWorks.Load) {
		t.Fatal("a did not lead again")
	}
}
