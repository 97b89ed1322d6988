package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/test/internal/sim"
	"github.com/daemonguard/daemonguard/validators/nodes"
)

// TestCoverageMatchesController: for each DaemonSet, the nodes its pods run
// on once the controller and the scheduler are done are exactly the nodes
// nodes.Coverage names, and the uncovered ones are grouped as it says.
func TestCoverageMatchesController(t *testing.T) {
	counts := sim.Counts(sim.Shapes(), suiteNodes) // control-plane, gpu, small, large
	cp, gpu, small, large := counts[0], counts[1], counts[2], counts[3]
	controlPlane := corev1.Toleration{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	tests := map[string]struct {
		mutate    func(*appsv1.DaemonSet)
		covered   int
		uncovered []string
	}{
		"no-tolerations": {
			mutate:  func(*appsv1.DaemonSet) {},
			covered: small + large,
			uncovered: []string{
				fmt.Sprintf("%d nodes tainted node-role.kubernetes.io/control-plane:NoSchedule are not tolerated", cp),
				fmt.Sprintf("%d nodes tainted dedicated=gpu:NoSchedule are not tolerated", gpu),
			},
		},
		"control-plane-toleration": {
			mutate: func(ds *appsv1.DaemonSet) {
				ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{controlPlane}
			},
			covered:   cp + small + large,
			uncovered: []string{fmt.Sprintf("%d nodes tainted dedicated=gpu:NoSchedule are not tolerated", gpu)},
		},
		"gpu-selector-and-toleration": {
			mutate: func(ds *appsv1.DaemonSet) {
				ds.Spec.Template.Spec.NodeSelector = map[string]string{"hardware/gpu": "true"}
				ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
			},
			covered:   gpu,
			uncovered: []string{fmt.Sprintf("%d nodes do not match the nodeSelector/required node affinity", cp+small+large)},
		},
		"selector-matches-nothing": {
			mutate: func(ds *appsv1.DaemonSet) {
				ds.Spec.Template.Spec.NodeSelector = map[string]string{"disktype": "nvme"}
			},
			uncovered: []string{fmt.Sprintf("%d nodes do not match the nodeSelector/required node affinity", suiteNodes)},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			ds := daemonSet(ns, "agent", tc.mutate)
			create(t, ds)
			cur := waitSettled(t, ds)

			cov := nodes.Coverage(cur, listNodes(t))
			if got := podNodes(t, ds); !slices.Equal(got, sorted(cov.CoveredNames())) {
				t.Errorf("pods run on %d nodes %v\nnodes.Coverage predicted %d: %v", len(got), got, len(cov.Covered), sorted(cov.CoveredNames()))
			}
			if len(cov.Covered) != tc.covered || int(cur.Status.DesiredNumberScheduled) != tc.covered {
				t.Errorf("covered %d, controller desired %d, want %d", len(cov.Covered), cur.Status.DesiredNumberScheduled, tc.covered)
			}
			var groups []string
			for _, u := range cov.Uncovered {
				groups = append(groups, u.String())
			}
			if !slices.Equal(groups, tc.uncovered) {
				t.Errorf("uncovered groups %q, want %q", groups, tc.uncovered)
			}
			if cov.MatchesNoNode() != (tc.covered == 0) {
				t.Errorf("MatchesNoNode() = %v with %d covered", cov.MatchesNoNode(), tc.covered)
			}
			t.Logf("%s: %s", name, cov)
		})
	}
}

// TestSilentFailures: a DaemonSet naming a PriorityClass or a ServiceAccount
// that does not exist is accepted, covers nodes, and runs nowhere; the only
// trace is FailedCreate events on the DaemonSet.
func TestSilentFailures(t *testing.T) {
	tests := map[string]struct {
		mutate  func(*appsv1.DaemonSet)
		message string
	}{
		"missing-priorityclass": {
			mutate:  func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.PriorityClassName = "no-such-class" },
			message: `no PriorityClass with name no-such-class was found`,
		},
		"missing-serviceaccount": {
			mutate:  func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.ServiceAccountName = "fluentbit" },
			message: `serviceaccount "fluentbit" not found`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			ds := daemonSet(ns, "agent", pool("large"), tc.mutate)
			create(t, ds)
			var msgs []string
			eventually(t, "a FailedCreate event on the DaemonSet", func() (bool, string) {
				msgs = events(t, ds, "FailedCreate")
				return len(msgs) > 0, fmt.Sprintf("events %q", msgs)
			})
			if !strings.Contains(msgs[0], tc.message) {
				t.Errorf("FailedCreate event %q does not say %q", msgs[0], tc.message)
			}
			cur := get(t, ds)
			want := len(nodes.Coverage(cur, listNodes(t)).Covered)
			if int(cur.Status.DesiredNumberScheduled) != want || want == 0 {
				t.Errorf("controller desires %d pods, nodes.Coverage %d (want > 0)", cur.Status.DesiredNumberScheduled, want)
			}
			if p := pods(t, ds); len(p) != 0 {
				t.Errorf("%d pods exist, want none", len(p))
			}
			t.Logf("%s: desired %d, 0 pods, event: %s", name, want, msgs[0])
		})
	}
}

// TestRequestsDoNotFit: requests larger than the small pool's allocatable
// leave Pending pods exactly on the nodes nodes.Fit names; the rest run.
func TestRequestsDoNotFit(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	ds := daemonSet(ns, "big", func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("3"), corev1.ResourceMemory: resource.MustParse("6Gi"),
		}
	})
	create(t, ds)
	all := listNodes(t)
	cov := nodes.Coverage(ds, all)
	fit := nodes.Fit(ds, cov.Covered)
	tooSmall := sorted(fit.NodesTooSmall())
	if len(tooSmall) == 0 || fit.Fits == 0 {
		t.Fatalf("the scenario needs nodes on both sides: %+v", fit)
	}
	var running, pending []string
	eventually(t, "pods Running where they fit and Pending where they do not", func() (bool, string) {
		running, pending = nil, nil
		for _, p := range pods(t, ds) {
			switch {
			case p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning:
				running = append(running, p.Spec.NodeName)
			case unschedulable(&p) != "":
				pending = append(pending, targetNode(&p))
			}
		}
		return len(running) == fit.Fits && len(pending) == len(tooSmall), fmt.Sprintf("%d running, %d pending", len(running), len(pending))
	})
	if got := sorted(pending); !slices.Equal(got, tooSmall) {
		t.Errorf("Pending pods for nodes %v\nnodes.Fit named %v", got, tooSmall)
	}
	for _, p := range pods(t, ds) {
		if msg := unschedulable(&p); msg != "" && !strings.Contains(msg, "Insufficient cpu") {
			t.Errorf("pod %s unschedulable for another reason: %s", p.Name, msg)
		}
	}
	for _, g := range fit.TooSmall {
		t.Log(g)
	}
}

// TestHostPortSurgeStalls: hostPort with maxSurge 1 rolls out never: the
// surge pod cannot get the port its predecessor holds (kubernetes#106417),
// as nodes.HostPortSurge says. The same DaemonSet with maxSurge 0 rolls out.
func TestHostPortSurgeStalls(t *testing.T) {
	tests := map[string]struct {
		surge, unavailable intstr.IntOrString
		stalls             bool
	}{
		"surge":    {surge: intstr.FromInt32(1), unavailable: intstr.FromInt32(0), stalls: true},
		"no-surge": {surge: intstr.FromInt32(0), unavailable: intstr.FromInt32(1)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			ds := daemonSet(ns, "exporter", pool("small"), func(ds *appsv1.DaemonSet) {
				port := int32(19100)
				if tc.stalls {
					port = 19101
				}
				ds.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: port, HostPort: port}}
				ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{
					Type:          appsv1.RollingUpdateDaemonSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: ptr.To(tc.surge), MaxUnavailable: ptr.To(tc.unavailable)},
				}
			})
			if got := nodes.HostPortSurge(ds) != nil; got != tc.stalls {
				t.Fatalf("nodes.HostPortSurge flagged %v, want %v", got, tc.stalls)
			}
			create(t, ds)
			cur := waitSettled(t, ds)
			desired := cur.Status.DesiredNumberScheduled

			cur.Spec.Template.Spec.Containers[0].Image = "registry.example/agent:2"
			if err := cluster.Client.Update(context.Background(), cur); err != nil {
				t.Fatal(err)
			}
			if !tc.stalls {
				start := time.Now()
				waitSettled(t, ds)
				t.Logf("image bump rolled out to %d nodes in %s", desired, time.Since(start).Round(10*time.Millisecond))
				return
			}
			var msg string
			eventually(t, "a surge pod stuck on its port", func() (bool, string) {
				for _, p := range pods(t, ds) {
					if m := unschedulable(&p); m != "" {
						msg = m
					}
				}
				return strings.Contains(msg, "didn't have free ports"), fmt.Sprintf("unschedulable message %q", msg)
			})
			// The rollout makes no progress: give it time it would need.
			time.Sleep(3 * time.Second)
			now := get(t, ds)
			if now.Status.UpdatedNumberScheduled != 0 {
				t.Errorf("%d nodes run the new template, want 0 (stalled)", now.Status.UpdatedNumberScheduled)
			}
			old := 0
			for _, p := range pods(t, ds) {
				if p.Spec.Containers[0].Image == "registry.example/agent:1" && p.Status.Phase == corev1.PodRunning {
					old++
				}
			}
			if old != int(desired) {
				t.Errorf("%d old pods running, want all %d", old, desired)
			}
			t.Logf("stalled: %s", msg)
		})
	}
}

// TestControllerTolerations: the tolerations on daemon pods are what
// nodes.DaemonPodTolerations computes from the template: the controller's
// own added, a template toleration matching one of them in key, operator
// (Exists), value and effect replaced (its tolerationSeconds dropped), an
// Equal one or an empty-key Exists one kept with its seconds.
func TestControllerTolerations(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	template := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpEqual, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](60)},
	}
	ds := daemonSet(ns, "tolerant", pool("large"), func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Tolerations = template
	})
	create(t, ds)
	cur := waitSettled(t, ds)
	if got := nodes.ReplacedTolerations(&cur.Spec.Template.Spec); !slices.Equal(got, []int{0}) {
		t.Errorf("ReplacedTolerations = %v, want [0]", got)
	}
	want := nodes.DaemonPodTolerations(&cur.Spec.Template.Spec)
	ps := pods(t, ds)
	if len(ps) == 0 {
		t.Fatal("no pods")
	}
	for _, p := range ps {
		if !equalTolerations(p.Spec.Tolerations, want) {
			t.Fatalf("pod %s tolerations:\n%s\nnodes.DaemonPodTolerations:\n%s", p.Name, show(p.Spec.Tolerations), show(want))
		}
	}
	got := ps[0].Spec.Tolerations
	seconds := func(key string, op corev1.TolerationOperator) []string {
		var out []string
		for _, tol := range got {
			if tol.Key == key && tol.Operator == op && tol.Effect == corev1.TaintEffectNoExecute {
				if tol.TolerationSeconds == nil {
					out = append(out, "forever")
				} else {
					out = append(out, fmt.Sprint(*tol.TolerationSeconds))
				}
			}
		}
		return out
	}
	for _, c := range []struct {
		key  string
		op   corev1.TolerationOperator
		want []string
	}{
		{corev1.TaintNodeNotReady, corev1.TolerationOpExists, []string{"forever"}},    // replaced: 300 s dropped
		{corev1.TaintNodeUnreachable, corev1.TolerationOpEqual, []string{"300"}},      // kept
		{corev1.TaintNodeUnreachable, corev1.TolerationOpExists, []string{"forever"}}, // the controller's, added
		{"", corev1.TolerationOpExists, []string{"60"}},                               // kept
	} {
		if s := seconds(c.key, c.op); !slices.Equal(s, c.want) {
			t.Errorf("%q %s NoExecute: tolerationSeconds %v, want %v", c.key, c.op, s, c.want)
		}
	}
	t.Logf("daemon pod tolerations:\n%s", show(got))
}

func equalTolerations(a, b []corev1.Toleration) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.Toleration) bool {
		return x.Key == y.Key && x.Operator == y.Operator && x.Value == y.Value && x.Effect == y.Effect &&
			ptr.Equal(x.TolerationSeconds, y.TolerationSeconds)
	})
}

func show(ts []corev1.Toleration) string {
	var b strings.Builder
	for _, t := range ts {
		s := "-"
		if t.TolerationSeconds != nil {
			s = fmt.Sprint(*t.TolerationSeconds)
		}
		fmt.Fprintf(&b, "  key=%q op=%s value=%q effect=%s seconds=%s\n", t.Key, t.Operator, t.Value, t.Effect, s)
	}
	return b.String()
}

// TestCordonedNodeStillCovered: a cordoned node is tainted
// node.kubernetes.io/unschedulable:NoSchedule by the node lifecycle
// controller; the DaemonSet controller's own toleration covers it, so a daemon
// pod lands there anyway, as nodes.Coverage says. Not parallel: it changes a
// node every other test lists.
func TestCordonedNodeStillCovered(t *testing.T) {
	ctx := context.Background()
	const name = "large-000"
	setUnschedulable := func(v bool) error {
		n := &corev1.Node{}
		if err := cluster.Client.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
			return err
		}
		patch := client.MergeFrom(n.DeepCopy())
		n.Spec.Unschedulable = v
		return cluster.Client.Patch(ctx, n, patch)
	}
	if err := setUnschedulable(true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := setUnschedulable(false); err != nil {
			t.Errorf("uncordoning %s: %v", name, err)
		}
		eventually(t, "the unschedulable taint to go", func() (bool, string) {
			n := &corev1.Node{}
			if err := cluster.Client.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
				return false, err.Error()
			}
			return !hasTaint(n, corev1.TaintNodeUnschedulable), fmt.Sprintf("taints %v", n.Spec.Taints)
		})
	})
	eventually(t, "the node lifecycle controller to taint the cordoned node", func() (bool, string) {
		n := &corev1.Node{}
		if err := cluster.Client.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
			return false, err.Error()
		}
		return hasTaint(n, corev1.TaintNodeUnschedulable), fmt.Sprintf("taints %v", n.Spec.Taints)
	})

	ns := namespace(t)
	ds := daemonSet(ns, "agent", pool("large"))
	create(t, ds)
	cur := waitSettled(t, ds)
	cov := nodes.Coverage(cur, listNodes(t))
	if !slices.Contains(cov.CoveredNames(), name) {
		t.Errorf("nodes.Coverage leaves the cordoned node out: %s", cov)
	}
	if got := podNodes(t, ds); !slices.Contains(got, name) || !slices.Equal(got, sorted(cov.CoveredNames())) {
		t.Errorf("pods run on %v\nnodes.Coverage predicted %v", got, sorted(cov.CoveredNames()))
	}
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}
