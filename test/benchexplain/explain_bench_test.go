// Package benchexplain measures `daemonguard explain` on large clusters
// (`make bench-explain`), reporting what one run costs: API requests, wall
// time, and the time of the analysis alone, ending with `BENCH <name>
// <value>` lines. Two clusters:
//
//   - simulated (the default): kube-apiserver, etcd, the real
//     kube-controller-manager and kube-scheduler, and kwok playing
//     EXPLAIN_BENCH_NODES nodes (1,000) of the declared shapes, with two
//     DaemonSets: one that runs on every node it is meant for, one whose
//     pods stay Pending on the small pool;
//   - static (EXPLAIN_BENCH_STATIC=1, for 5,000 nodes and more, where the
//     scheduler and kwok would take this machine's two cores for many
//     minutes): kube-apiserver and etcd alone, holding the same nodes and one
//     DaemonSet's pods written directly, bound, running and ready, as the
//     controllers would leave them. What explain reads is the same; nothing
//     else competes for the CPU while it is measured.
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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/internal/explain"
	"github.com/daemonguard/daemonguard/internal/explain/live"
	"github.com/daemonguard/daemonguard/internal/kube"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
	"github.com/daemonguard/daemonguard/test/internal/fanout"
	"github.com/daemonguard/daemonguard/test/internal/sim"
	"github.com/daemonguard/daemonguard/validators/nodes"
)

// suite is the running cluster of one benchmark run.
type suite struct {
	config *rest.Config
	client client.Client
	nodes  int
	static bool
	stop   func() error
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
	s := &suite{nodes: n, static: os.Getenv("EXPLAIN_BENCH_STATIC") == "1"}
	if s.static {
		env, err := controlplane.Start(context.Background(), controlplane.Options{NoWebhook: true})
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchexplain: %v\n", err)
			return 1
		}
		s.config, s.stop = env.Config, env.Stop
		// Thousands of writes to set the cluster up: no client-side limit.
		fast := rest.CopyConfig(env.Config)
		fast.QPS, fast.Burst = 2000, 4000
		if s.client, err = client.New(fast, client.Options{Scheme: env.Client.Scheme()}); err != nil {
			_ = env.Stop()
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := createNodes(context.Background(), s.client, sim.Nodes(sim.Shapes(), n)); err != nil {
			_ = env.Stop()
			fmt.Fprintf(os.Stderr, "benchexplain: %v\n", err)
			return 1
		}
	} else {
		// Leases off: at 1,000 nodes kwok would spend most of a core
		// renewing them, which is not what is measured.
		c, err := sim.Start(context.Background(), sim.Options{Nodes: n, StateDir: dir, NoNodeLeases: true, ReadyTimeout: 10 * time.Minute})
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchexplain: %v (logs in %s)\n", err, dir)
			return 1
		}
		s.config, s.client, s.stop = c.Config, c.Client, c.Stop
	}
	kind := "simulated"
	if s.static {
		kind = "static"
	}
	fmt.Printf("benchexplain: %d %s nodes ready in %s\n", n, kind, time.Since(start).Round(time.Second))
	current = s
	code := m.Run()
	if err := s.stop(); err != nil && code == 0 {
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
// text) on each DaemonSet of the cluster.
func BenchmarkExplain(b *testing.B) {
	if current == nil {
		b.Skip("no cluster")
	}
	ctx := context.Background()
	if err := current.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}); err != nil {
		b.Fatal(err)
	}
	healthy := agent("healthy", nil)
	cases := []*appsv1.DaemonSet{healthy}
	if current.static {
		if err := writeDaemonSet(ctx, current.client, healthy); err != nil {
			b.Fatal(err)
		}
	} else {
		if err := sim.WaitServiceAccount(ctx, current.client, "bench"); err != nil {
			b.Fatal(err)
		}
		pending := agent("pending", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")})
		cases = append(cases, pending)
		for _, ds := range cases {
			if err := current.client.Create(ctx, ds); err != nil {
				b.Fatal(err)
			}
		}
		settle(b, pending, func(r *explain.Report) bool {
			return r.Reasons[explain.Pending] > 0 && r.Reasons[explain.NotCreated] == 0
		})
	}
	settle(b, healthy, func(r *explain.Report) bool { return r.OK && r.Running == r.Desired && r.Desired > 0 })
	var lines []string
	for _, ds := range cases {
		b.Run(ds.Name, func(b *testing.B) {
			var requests int64
			var analysis time.Duration
			var r *explain.Report
			for b.Loop() {
				cfg := rest.CopyConfig(current.config)
				counter := live.Count(cfg)
				cs, err := kube.NewForConfig(cfg)
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

// settle waits (up to ten minutes) until explain's report satisfies done.
func settle(b *testing.B, ds *appsv1.DaemonSet, done func(*explain.Report) bool) {
	b.Helper()
	cs, err := kube.NewForConfig(current.config)
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		in, err := live.Read(context.Background(), cs, ds.Namespace, ds.Name, live.Options{})
		if err == nil {
			r := explain.Explain(in)
			if done(r) {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("DaemonSet %s did not settle in 10 minutes: %s", ds.Name, r.Summary)
			}
		} else if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second)
	}
}

// createNodes writes the nodes and their Ready status, as kwok and the node
// lifecycle controller would leave them, 16 at a time.
func createNodes(ctx context.Context, c client.Client, list []*corev1.Node) error {
	return fanout.Do(len(list), 16, func(i int) error {
		n := list[i].DeepCopy()
		status := n.Status
		if err := c.Create(ctx, n); err != nil {
			return fmt.Errorf("creating node %s: %w", n.Name, err)
		}
		n.Status = status
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		if err := c.Status().Update(ctx, n); err != nil {
			return fmt.Errorf("node %s status: %w", n.Name, err)
		}
		// Drop the not-ready taint the API server put on the new node, as
		// the node lifecycle controller does once it is Ready.
		var taints []corev1.Taint
		for _, t := range n.Spec.Taints {
			if t.Key != corev1.TaintNodeNotReady {
				taints = append(taints, t)
			}
		}
		if len(taints) != len(n.Spec.Taints) {
			n.Spec.Taints = taints
			return c.Update(ctx, n)
		}
		return nil
	})
}

// writeDaemonSet creates ds, a ControllerRevision and, on every node the
// controller's predicates want, a bound, running, ready daemon pod of that
// revision, with the status the controller would write.
func writeDaemonSet(ctx context.Context, c client.Client, ds *appsv1.DaemonSet) error {
	if err := c.Create(ctx, ds); err != nil {
		return err
	}
	const hash = "bench1"
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID, Controller: ptr.To(true)}
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Namespace: ds.Namespace, Name: ds.Name + "-" + hash, OwnerReferences: []metav1.OwnerReference{owner},
			Labels: map[string]string{"app": ds.Name, appsv1.DefaultDaemonSetUniqueLabelKey: hash}},
		Data:     runtime.RawExtension{Raw: []byte(`{}`)},
		Revision: 1,
	}
	if err := c.Create(ctx, rev); err != nil {
		return err
	}
	var list corev1.NodeList
	if err := c.List(ctx, &list); err != nil {
		return err
	}
	ev := nodes.NewEvaluator(ds)
	var targets []string
	for i := range list.Items {
		if run, _, _ := ev.ShouldRun(&list.Items[i]); run {
			targets = append(targets, list.Items[i].Name)
		}
	}
	err := fanout.Do(len(targets), 16, func(i int) error {
		node := targets[i]
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ds.Namespace, GenerateName: ds.Name + "-", OwnerReferences: []metav1.OwnerReference{owner},
				Labels: map[string]string{"app": ds.Name, appsv1.DefaultDaemonSetUniqueLabelKey: hash}},
			Spec: *ds.Spec.Template.Spec.DeepCopy(),
		}
		p.Spec.NodeName = node
		p.Spec.Tolerations = nodes.DaemonPodTolerations(&p.Spec)
		if err := c.Create(ctx, p); err != nil {
			return fmt.Errorf("pod for %s: %w", node, err)
		}
		now := metav1.Now()
		p.Status = corev1.PodStatus{
			Phase: corev1.PodRunning, StartTime: &now,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "agent", Image: "agent:1", Ready: true, Started: ptr.To(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
		}
		return c.Status().Update(ctx, p)
	})
	if err != nil {
		return err
	}
	n := int32(len(targets))
	ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, DesiredNumberScheduled: n, CurrentNumberScheduled: n,
		NumberReady: n, UpdatedNumberScheduled: n, NumberAvailable: n}
	return c.Status().Update(ctx, ds)
}
