// Package benchexplain measures `daemonguard explain` on a large simulated
// cluster (`make bench-explain`): kube-apiserver, etcd, the real
// kube-controller-manager and kube-scheduler, and kwok playing
// EXPLAIN_BENCH_NODES nodes (1,000 by default) of the declared shapes, with
// two DaemonSets on them: one that runs on every node it is meant for, one
// whose pods stay Pending on part of the cluster. It reports what one run of
// explain costs: API requests, wall time, and the time of the analysis alone,
// ending with `BENCH <name> <value>` lines.
//
// Plain `go test` (as `make test` runs it) starts nothing: the cluster comes
// up only when a benchmark is asked for.
package benchexplain

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/daemonguard/daemonguard/internal/explain"
	"github.com/daemonguard/daemonguard/internal/explain/live"
	"github.com/daemonguard/daemonguard/test/internal/sim"
)

// suite is the running cluster of one benchmark run.
type suite struct {
	cluster *sim.Cluster
	nodes   int
}

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	os.Exit(runBench(m))
}

// current is set once by runBench, before any benchmark runs, and only read
// afterwards.
var current *suite

func runBench(m *testing.M) int {
	n := 1000
	if v := os.Getenv("EXPLAIN_BENCH_NODES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			fmt.Fprintf(os.Stderr, "benchexplain: EXPLAIN_BENCH_NODES=%q: want a number ≥ 10\n", v)
			return 2
		}
	}
	dir, err := os.MkdirTemp("", "daemonguard-benchexplain-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	start := time.Now()
	// Leases off: at 1,000 nodes kwok would spend most of a core renewing
	// them, which is not what is measured.
	c, err := sim.Start(context.Background(), sim.Options{Nodes: n, StateDir: dir, NoNodeLeases: true, ReadyTimeout: 10 * time.Minute})
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchexplain: %v (logs in %s)\n", err, dir)
		return 1
	}
	fmt.Printf("benchexplain: %d nodes Ready in %s\n", n, time.Since(start).Round(time.Second))
	current = &suite{cluster: c, nodes: n}
	code := m.Run()
	if err := c.Stop(); err != nil && code == 0 {
		fmt.Fprintf(os.Stderr, "benchexplain: stopping: %v\n", err)
		code = 1
	}
	if code == 0 {
		_ = os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "benchexplain: logs kept in %s\n", dir)
	}
	return code
}

// BenchmarkExplain runs explain as the command does (list, judge, render
// text) on a DaemonSet that runs everywhere it should, and on one whose
// pods are Pending on the small pool.
func BenchmarkExplain(b *testing.B) {
	if current == nil {
		b.Skip("no cluster")
	}
	ctx := context.Background()
	if err := current.cluster.CreateNamespace(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	healthy := agent("healthy", nil)
	pending := agent("pending", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")})
	for _, ds := range []*appsv1.DaemonSet{healthy, pending} {
		if err := current.cluster.Client.Create(ctx, ds); err != nil {
			b.Fatal(err)
		}
	}
	settle(b, healthy, func(r *explain.Report) bool { return r.OK && r.Running == r.Desired && r.Desired > 0 })
	settle(b, pending, func(r *explain.Report) bool {
		return r.Reasons[explain.Pending] > 0 && r.Reasons[explain.NotCreated] == 0
	})
	var lines []string
	for _, ds := range []*appsv1.DaemonSet{healthy, pending} {
		b.Run(ds.Name, func(b *testing.B) {
			var requests int64
			var analysis time.Duration
			var r *explain.Report
			for b.Loop() {
				cfg := rest.CopyConfig(current.cluster.Config)
				counter := live.Count(cfg)
				cs, err := kubernetes.NewForConfig(cfg)
				if err != nil {
					b.Fatal(err)
				}
				in, err := live.Read(ctx, cs, ds.Namespace, ds.Name, live.Options{})
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				r = explain.Explain(in)
				var text bytes.Buffer
				if err := r.WriteText(&text); err != nil {
					b.Fatal(err)
				}
				analysis += time.Since(t0)
				requests = counter.Requests()
			}
			b.ReportMetric(float64(requests), "requests/op")
			b.ReportMetric(float64(analysis.Microseconds())/float64(b.N)/1000, "analysis-ms/op")
			b.Logf("%s", r.Summary)
			perOp := b.Elapsed() / time.Duration(b.N)
			lines = append(lines,
				fmt.Sprintf("BENCH explain_%s_%dnodes_ms %.1f", ds.Name, current.nodes, float64(perOp.Microseconds())/1000),
				fmt.Sprintf("BENCH explain_%s_%dnodes_requests %d", ds.Name, current.nodes, requests),
				fmt.Sprintf("BENCH explain_%s_%dnodes_analysis_ms %.2f", ds.Name, current.nodes, float64(analysis.Microseconds())/float64(b.N)/1000))
		})
	}
	for _, l := range lines {
		fmt.Println(l)
	}
}

func agent(name string, requests corev1.ResourceList) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Tolerations: []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
					Containers:  []corev1.Container{{Name: "agent", Image: "agent:1", Resources: corev1.ResourceRequirements{Requests: requests}}},
				},
			},
		},
	}
}

// settle waits (up to five minutes) until explain's report satisfies done.
func settle(b *testing.B, ds *appsv1.DaemonSet, done func(*explain.Report) bool) {
	b.Helper()
	cs, err := kubernetes.NewForConfig(current.cluster.Config)
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		in, err := live.Read(context.Background(), cs, ds.Namespace, ds.Name, live.Options{})
		if err == nil {
			r := explain.Explain(in)
			if done(r) {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("DaemonSet %s did not settle in 5 minutes: %s", ds.Name, r.Summary)
			}
		} else if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second)
	}
}
