package reports

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/internal/reports"
	"github.com/daemonguard/daemonguard/webhook"
)

// replica is one `serve --reports` in this process, as the chart runs it,
// with its own connection to the API server whose Report writes are counted.
type replica struct {
	name     string
	writes   *writeCounter
	registry *prometheus.Registry
	stop     context.CancelFunc
	done     chan error

	mu       sync.Mutex
	reporter *reports.Reporter
}

func startReplica(t *testing.T, name, policyFile string) *replica {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := &replica{name: name, writes: &writeCounter{}, registry: prometheus.NewRegistry(), done: make(chan error, 1)}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(r.writes.wrap)
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() {
		r.done <- webhook.Run(ctx, cfg, webhook.Options{
			Host: "127.0.0.1", Port: port, CertDir: env.CertDir(), CertName: "tls.crt", KeyName: "tls.key",
			PolicyFile: policyFile, PolicyPollInterval: 100 * time.Millisecond,
			Namespace: controlplaneNamespace, MetricsAddr: "0", HealthAddr: "0", MetricsRegistry: r.registry,
			Reports: webhook.ReportsOptions{Enabled: true, WritesPerSecond: 50, Burst: 100, Reporter: func(rep *reports.Reporter) {
				r.mu.Lock()
				r.reporter = rep
				r.mu.Unlock()
			}},
		})
	}()
	t.Cleanup(func() { r.shutdown(t) })
	return r
}

func (r *replica) shutdown(t *testing.T) {
	r.stop()
	select {
	case err := <-r.done:
		if err != nil {
			t.Logf("replica %s: %v", r.name, err)
		}
		r.done <- nil // for a second shutdown
	case <-time.After(30 * time.Second):
		t.Errorf("replica %s did not stop within 30s", r.name)
	}
}

func (r *replica) reconciles() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reporter == nil {
		return 0
	}
	return r.reporter.Reconciles()
}

// gauge reads daemonguard_daemonsets_with_findings{rule, action}.
func (r *replica) gauge(t *testing.T, rule, action string) float64 {
	t.Helper()
	return r.metric(t, "daemonguard_daemonsets_with_findings", map[string]string{"rule": rule, "action": action})
}

// metric reads the gauge or counter name{labels} from the replica's
// registry, 0 when it has no such series.
func (r *replica) metric(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := r.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return 0
}

func getReport(ns string) (*openreportsv1alpha1.Report, error) {
	r := &openreportsv1alpha1.Report{}
	err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: reports.ReportName}, r)
	return r, err
}

// waitResult waits until ns's Report has result for DaemonSet name and rule.
func waitResult(t *testing.T, ns, name, rule, result string) *openreportsv1alpha1.Report {
	t.Helper()
	var rep *openreportsv1alpha1.Report
	eventually(t, 30*time.Second, fmt.Sprintf("%s/%s %s = %s", ns, name, rule, result), func() (bool, string) {
		var err error
		if rep, err = getReport(ns); err != nil {
			return false, err.Error()
		}
		res := findResult(rep, name, rule)
		if res == nil {
			return false, "no result"
		}
		return string(res.Result) == result, string(res.Result)
	})
	return rep
}

// TestReporter runs two replicas of `serve --reports` against DaemonSets
// created while the webhook was absent: the leader writes one Report per
// namespace, the other never writes; fixing, deleting, a policy reload and
// a failover are all reflected, and nothing is written when nothing changed.
func TestReporter(t *testing.T) {
	ns := namespace(t, "reports")
	fixed := daemonSet(ns, "node-debugger", hostPIDWritable)
	create(t, fixed,
		daemonSet(ns, "gpu-monitor", func(s *corev1.PodSpec) { privileged(s); complete(s) }),
		daemonSet(ns, "old-debugger", hostPIDWritable),
		daemonSet(ns, "fluentbit", nil),
	)
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy := func(p string) {
		t.Helper()
		if err := os.WriteFile(policyFile, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const base = "apiVersion: daemonguard.io/v1alpha1\nkind: Policy\n"
	writePolicy(base)

	a := startReplica(t, "a", policyFile)
	b := startReplica(t, "b", policyFile)
	start := time.Now()
	rep := waitResult(t, ns, "node-debugger", "hostpid-writable-hostpath", "fail")
	t.Logf("first Report after %s", time.Since(start).Round(time.Millisecond))

	t.Run("results", func(t *testing.T) {
		checkResult(t, rep, "node-debugger", "hostpid-writable-hostpath", "fail", "high")
		checkResult(t, rep, "old-debugger", "hostpid-writable-hostpath", "fail", "high")
		checkResult(t, rep, "gpu-monitor", "privileged-container", "warn", "medium")
		checkResult(t, rep, "fluentbit", "hostpid-writable-hostpath", "pass", "high")
		checkResult(t, rep, "old-debugger", "hostpid-shared-uid", "warn", "medium")
		// privileged-container, and hostpid-shared-uid for each debugger.
		if rep.Summary.Fail != 2 || rep.Summary.Warn != 3 || rep.Summary.Pass == 0 {
			t.Errorf("summary %+v", rep.Summary)
		}
		res := findResult(rep, "node-debugger", "hostpid-writable-hostpath")
		if res.Properties["field"] != "spec.template.spec.containers[0].volumeMounts[0]" || res.Subjects[0].UID == "" {
			t.Errorf("want the field and the DaemonSet's uid: %+v", res)
		}
	})

	leader, follower := a, b
	if b.writes.n.Load() > 0 {
		leader, follower = b, a
	}
	t.Run("one writer", func(t *testing.T) {
		if follower.writes.n.Load() != 0 || leader.writes.n.Load() == 0 {
			t.Fatalf("writes: %s %d, %s %d; want exactly one replica writing", a.name, a.writes.n.Load(), b.name, b.writes.n.Load())
		}
		var lease coordinationv1.Lease
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: controlplaneNamespace, Name: "daemonguard-reports"}, &lease); err != nil {
			t.Fatal(err)
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			t.Errorf("lease without a holder: %+v", lease.Spec)
		}
		if follower.reconciles() != 0 {
			t.Errorf("the follower evaluated %d namespaces; it should hold no DaemonSet cache", follower.reconciles())
		}
		if g := leader.gauge(t, "hostpid-writable-hostpath", "deny"); g < 2 {
			t.Errorf("daemonguard_daemonsets_with_findings{hostpid-writable-hostpath,deny} = %v on the leader, want >= 2", g)
		}
		// The Reporter's queue, in the registry serve was given (make
		// bench-scale and the dashboards read it on /metrics).
		queue := map[string]string{"name": "daemonguard-reports", "controller": "daemonguard-reports"}
		if n := leader.metric(t, "workqueue_adds_total", queue); n == 0 {
			t.Errorf(`workqueue_adds_total{name="daemonguard-reports"} = %v on the leader, want > 0`, n)
		}
		t.Logf("leader %s (lease holder %s)", leader.name, *lease.Spec.HolderIdentity)
	})

	t.Run("fixing removes the failure", func(t *testing.T) {
		ds := &appsv1.DaemonSet{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(fixed), ds); err != nil {
			t.Fatal(err)
		}
		ds.Spec.Template.Spec.Containers[0].VolumeMounts[0].ReadOnly = true
		if err := c.Update(context.Background(), ds); err != nil {
			t.Fatal(err)
		}
		rep := waitResult(t, ns, "node-debugger", "hostpid-writable-hostpath", "pass")
		if rep.Summary.Fail != 1 {
			t.Errorf("summary %+v, want one failure left", rep.Summary)
		}
	})

	t.Run("deleting removes the results", func(t *testing.T) {
		if err := c.Delete(context.Background(), daemonSet(ns, "old-debugger", nil)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "old-debugger's results gone", func() (bool, string) {
			rep, err := getReport(ns)
			if err != nil {
				return false, err.Error()
			}
			for _, res := range rep.Results {
				if res.Subjects[0].Name == "old-debugger" {
					return false, "still there"
				}
			}
			return rep.Summary.Fail == 0, fmt.Sprintf("%+v", rep.Summary)
		})
	})

	t.Run("policy reload", func(t *testing.T) {
		writePolicy(base + "validation:\n  rules:\n    privileged-container: enforce\n")
		checkResult(t, waitResult(t, ns, "gpu-monitor", "privileged-container", "fail"), "gpu-monitor", "privileged-container", "fail", "high")
		writePolicy(base + "exemptions:\n  - namespaces: [" + ns + "]\n    rules: [privileged-container]\n    reason: accepted\n")
		rep := waitResult(t, ns, "gpu-monitor", "privileged-container", "skip")
		if res := findResult(rep, "gpu-monitor", "privileged-container"); res.Properties["exemption"] != "exemptions[0]" {
			t.Errorf("skip without its exemption: %+v", res)
		}
		writePolicy(base)
		waitResult(t, ns, "gpu-monitor", "privileged-container", "warn")
	})

	t.Run("no writes when nothing changes", func(t *testing.T) {
		time.Sleep(2 * time.Second) // let the last writes land and come back through the cache
		writes, reconciles := leader.writes.n.Load(), leader.reconciles()
		// A reload of an equivalent policy file re-evaluates every
		// namespace; an annotation on a DaemonSet re-evaluates this one.
		writePolicy(base + "# reformatted, same policy\n")
		ds := &appsv1.DaemonSet{}
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "fluentbit"}, ds); err != nil {
			t.Fatal(err)
		}
		ds.Annotations = map[string]string{"example.com/touched": "yes"}
		if err := c.Update(context.Background(), ds); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "re-evaluation", func() (bool, string) {
			n := leader.reconciles() - reconciles
			return n >= 2, fmt.Sprintf("%d namespace evaluations", n)
		})
		time.Sleep(2 * time.Second)
		got := leader.writes.n.Load() - writes
		t.Logf("WRITES when nothing changed: %d (after %d namespace evaluations)", got, leader.reconciles()-reconciles)
		fmt.Printf("BENCH reporter_writes_when_unchanged %d\n", got)
		if got != 0 {
			t.Errorf("%d writes when nothing changed, want 0", got)
		}
	})

	t.Run("a namespace with no DaemonSets has no Report", func(t *testing.T) {
		if err := c.DeleteAllOf(context.Background(), &appsv1.DaemonSet{}, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "Report deleted", func() (bool, string) {
			_, err := getReport(ns)
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
	})

	t.Run("failover", func(t *testing.T) {
		leader.shutdown(t)
		before := leader.writes.n.Load()
		ns2 := namespace(t, "failover")
		create(t, daemonSet(ns2, "node-debugger", hostPIDWritable))
		start := time.Now()
		waitResult(t, ns2, "node-debugger", "hostpid-writable-hostpath", "fail")
		t.Logf("the other replica took over and wrote after %s", time.Since(start).Round(time.Millisecond))
		if follower.writes.n.Load() == 0 || leader.writes.n.Load() != before {
			t.Errorf("writes after failover: old leader %d (was %d), new leader %d", leader.writes.n.Load(), before, follower.writes.n.Load())
		}
	})
}
