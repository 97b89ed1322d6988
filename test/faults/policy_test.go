package faults

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/test/internal/controlplane"
	"github.com/daemonguard/daemonguard/test/internal/poll"
)

// The two valid policies: the defaults (a privileged container warns) and
// the defaults with privileged-container enforced.
const (
	policyWarn    = basePolicy
	policyEnforce = basePolicy + "validation:\n  rules:\n    privileged-container: enforce\n"
)

// verdicts counts what the API server said, by kind of DaemonSet.
type verdicts struct {
	calls, failed                           atomic.Int64
	privilegedAdmitted, privilegedDenied    atomic.Int64
	safeDenied, socketAdmitted, wrongDenial atomic.Int64
	// admittedDuringFaults counts privileged DaemonSets admitted while only
	// bad files were on disk after the enforcing policy.
	admittedDuringFaults atomic.Int64
	mu                   sync.Mutex
	notes                []string
}

func (v *verdicts) note(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.notes) < 10 {
		v.notes = append(v.notes, fmt.Sprintf(format, args...))
	}
}

// TestPolicyFaultsUnderLoad runs through the API server, against three
// replicas that all read one policy file, while the file is replaced by
// garbage, emptied, deleted, made huge (a 32 MiB file that would loosen the
// policy if it were ever read as one), and flipped rapidly between the two
// valid policies. Every verdict must be one of those two policies': a safe
// DaemonSet admitted, a runtime-socket mount denied, a privileged container
// warned or denied — and denied throughout the faults, which follow the
// enforcing policy.
func TestPolicyFaultsUnderLoad(t *testing.T) {
	writePolicy(t, policyWarn)
	t.Cleanup(func() { writePolicy(t, basePolicy) })
	replicas(t, 3, replicaOptions{})
	ns := namespace(t)
	var v verdicts
	var faulting atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < pick(4, 6); w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				judge(&v, &faulting, ns, (w+i)%3)
			}
		}(w)
	}

	// The enforcing policy, then bad files: the enforcing one stays.
	writePolicy(t, policyEnforce)
	waitFor(t, "privileged-container enforced", func() bool { return privilegedDenied(ns) })
	hold := pick(time.Second, 10*time.Second)
	huge := hugePolicy()
	faulting.Store(true)
	for _, fault := range []struct {
		name  string
		apply func()
	}{
		{"garbage", func() { writePolicy(t, randomBytes(4096)) }},
		{"empty", func() { writePolicy(t, "") }},
		{"deleted", func() { _ = os.Remove(policyPath) }},
		{"huge", func() { writePolicy(t, huge) }},
		{"not a policy", func() { writePolicy(t, "apiVersion: v1\nkind: ConfigMap\n") }},
	} {
		fault.apply()
		time.Sleep(hold)
		t.Logf("fault %q held for %s: %d privileged admitted so far during faults", fault.name, hold, v.admittedDuringFaults.Load())
	}
	faulting.Store(false)

	// Rapid flips between the two valid policies.
	flips := pick(100, 2000)
	for i := 0; i < flips; i++ {
		writePolicy(t, []string{policyWarn, policyEnforce}[i%2])
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	for _, n := range v.notes {
		t.Log(n)
	}
	bench(t, "policy_faults_requests", v.calls.Load())
	bench(t, "policy_faults_failed", v.failed.Load())
	bench(t, "policy_faults_flips", flips)
	bench(t, "policy_faults_privileged_admitted", v.privilegedAdmitted.Load())
	bench(t, "policy_faults_privileged_denied", v.privilegedDenied.Load())
	bench(t, "policy_faults_looser_than_both", v.socketAdmitted.Load()+v.admittedDuringFaults.Load())
	if v.calls.Load() < 50 {
		t.Errorf("only %d calls made", v.calls.Load())
	}
	if n := v.failed.Load(); n != 0 {
		t.Errorf("%d calls failed (no well-formed verdict)", n)
	}
	if n := v.socketAdmitted.Load(); n != 0 {
		t.Errorf("%d runtime-socket DaemonSets admitted: looser than both policies", n)
	}
	if n := v.safeDenied.Load() + v.wrongDenial.Load(); n != 0 {
		t.Errorf("%d verdicts neither policy gives (safe denied, or denied for another reason)", n)
	}
	if n := v.admittedDuringFaults.Load(); n != 0 {
		t.Errorf("%d privileged DaemonSets admitted while only bad policy files followed the enforcing one", n)
	}
	if v.privilegedAdmitted.Load() == 0 || v.privilegedDenied.Load() == 0 {
		t.Errorf("privileged: %d admitted, %d denied; the flips should show both policies", v.privilegedAdmitted.Load(), v.privilegedDenied.Load())
	}
}

// judge sends one DaemonSet of kind 0 (safe), 1 (privileged) or 2 (runtime
// socket) and files the verdict.
func judge(v *verdicts, faulting *atomic.Bool, ns string, kind int) {
	ds := controlplane.Probe(ns)
	ds.Name = fmt.Sprintf("kind-%d", kind)
	c := &ds.Spec.Template.Spec.Containers[0]
	switch kind {
	case 1:
		priv := true
		c.SecurityContext = &corev1.SecurityContext{Privileged: &priv}
	case 2:
		ds.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "sock", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/run/containerd/containerd.sock"}}}}
		c.VolumeMounts = []corev1.VolumeMount{{Name: "sock", MountPath: "/run/containerd/containerd.sock", ReadOnly: true}}
	}
	duringFaults := faulting.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := k8s.Create(ctx, ds, client.DryRunAll)
	v.calls.Add(1)
	denied := apierrors.IsInvalid(err) && strings.Contains(err.Error(), "denied the request")
	if err != nil && !denied {
		v.failed.Add(1)
		v.note("kind %d: %v", kind, err)
		return
	}
	switch kind {
	case 0:
		if denied {
			v.safeDenied.Add(1)
			v.note("safe DaemonSet denied: %v", err)
		}
	case 1:
		switch {
		case !denied:
			v.privilegedAdmitted.Add(1)
			if duringFaults && faulting.Load() {
				v.admittedDuringFaults.Add(1)
			}
		case strings.Contains(err.Error(), "[privileged-container]"):
			v.privilegedDenied.Add(1)
		default:
			v.wrongDenial.Add(1)
			v.note("privileged denied for another reason: %v", err)
		}
	case 2:
		if !denied {
			v.socketAdmitted.Add(1)
		} else if !strings.Contains(err.Error(), "[container-runtime-socket]") {
			v.wrongDenial.Add(1)
			v.note("socket denied for another reason: %v", err)
		}
	}
}

func privilegedDenied(ns string) bool {
	var v verdicts
	var f atomic.Bool
	judge(&v, &f, ns, 1)
	return v.privilegedDenied.Load() == 1
}

// writePolicy replaces the policy file atomically, as a ConfigMap volume does.
func writePolicy(t testing.TB, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(policyPath), ".policy.tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, policyPath); err != nil {
		t.Fatal(err)
	}
}

// hugePolicy is 32 MiB that starts as a policy loosening privileged-container
// to off and goes on with unknown fields: strict decoding must refuse it.
func hugePolicy() string {
	var b strings.Builder
	b.WriteString(basePolicy + "validation:\n  rules:\n    privileged-container: \"off\"\n")
	line := "# padding " + strings.Repeat("x", 100) + "\n"
	for b.Len() < 32<<20 {
		b.WriteString(line)
	}
	b.WriteString("unknownField: true\n")
	return b.String()
}

func randomBytes(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return string(b)
}

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	poll.Until(t, 15*time.Second, what, poll.Bool(ok))
}
