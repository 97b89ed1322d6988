package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/internal/explain"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/test/internal/sim"
)

// The explain tests create each situation for real on the simulated
// cluster (the controller-manager and scheduler decide, kwok plays the
// kubelets; where a kubelet would report a container state, the test writes
// the pod status as one would) and assert that `daemonguard explain` names
// it on exactly the right nodes, in its JSON and its text. The tests that
// change shared nodes are not parallel; the others run alongside the rest
// of the suite.

// reads is what explain costs on a quiet cluster: the DaemonSet, then one
// list each of nodes, pods, events and revisions (one page each here).
const reads = 5

// TestExplainExclusions: a tainted pool, a nodeSelector and a required node
// affinity leave nodes out, each named with the taint or the requirement;
// the DaemonSet runs everywhere else, which is all it should (exit 0).
func TestExplainExclusions(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mutate  func(*appsv1.DaemonSet)
		reasons map[string]explain.Reason
		causes  map[explain.Reason][]string
		summary string
	}{
		"tainted pools": {
			mutate:  func(*appsv1.DaemonSet) {},
			reasons: map[string]explain.Reason{"control-plane": explain.TaintNotTolerated, "gpu": explain.TaintNotTolerated, "small": explain.Running, "large": explain.Running},
			causes:  map[explain.Reason][]string{explain.TaintNotTolerated: {"dedicated=gpu:NoSchedule", "node-role.kubernetes.io/control-plane:NoSchedule"}},
			summary: "runs on all 15 nodes it should (20 nodes); not meant for 5: 3 TaintNotTolerated (node-role.kubernetes.io/control-plane:NoSchedule), 2 TaintNotTolerated (dedicated=gpu:NoSchedule)",
		},
		"node selector": {
			mutate: func(ds *appsv1.DaemonSet) {
				ds.Spec.Template.Spec.NodeSelector = map[string]string{"hardware/gpu": "true"}
				ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
			},
			reasons: map[string]explain.Reason{"control-plane": explain.NodeSelectorMismatch, "gpu": explain.Running, "small": explain.NodeSelectorMismatch, "large": explain.NodeSelectorMismatch},
			causes:  map[explain.Reason][]string{explain.NodeSelectorMismatch: {"nodeSelector hardware/gpu=true"}},
			summary: "runs on all 2 nodes it should (20 nodes); not meant for 18: 18 NodeSelectorMismatch (nodeSelector hardware/gpu=true)",
		},
		"node affinity": {
			mutate: func(ds *appsv1.DaemonSet) {
				ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: sim.PoolLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{"large"}}}}},
				}}}
			},
			reasons: map[string]explain.Reason{"control-plane": explain.NodeAffinityMismatch, "gpu": explain.NodeAffinityMismatch, "small": explain.NodeAffinityMismatch, "large": explain.Running},
			causes:  map[explain.Reason][]string{explain.NodeAffinityMismatch: {"requiredDuringSchedulingIgnoredDuringExecution node.kubernetes.io/pool In [large]"}},
			summary: "runs on all 8 nodes it should (20 nodes); not meant for 12: 12 NodeAffinityMismatch (requiredDuringSchedulingIgnoredDuringExecution node.kubernetes.io/pool In [large])",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ds := daemonSet(namespace(t), "agent", tc.mutate)
			create(t, ds)
			waitSettled(t, ds)
			e := runExplain(t, ds)
			e.assertReasons(t, byPool(t, tc.reasons))
			for reason, causes := range tc.causes {
				if got := e.causes(reason); !slices.Equal(got, causes) {
					t.Errorf("%s causes %q, want %q", reason, got, causes)
				}
			}
			if e.json.Summary != tc.summary {
				t.Errorf("summary\n%s\nwant\n%s", e.json.Summary, tc.summary)
			}
			if !e.json.OK || !e.json.Rollout.Complete || e.json.Next != "" {
				t.Errorf("ok %v, rollout complete %v, next %q: want ok, complete, nothing to do", e.json.OK, e.json.Rollout.Complete, e.json.Next)
			}
			if e.requests != reads {
				t.Errorf("%d API requests, want %d", e.requests, reads)
			}
			if n := e.node(t, nodesIn(t, "small")[0]); tc.reasons["small"] != explain.Running && !strings.Contains(n.Detail, "the node has") {
				t.Errorf("the detail of %s does not say what the node has: %q", n.Name, n.Detail)
			}
			t.Logf("%s:\n%s", name, e.text)
		})
	}
}

// TestExplainNotCreated: a missing ServiceAccount, a missing PriorityClass
// (injected, as daemonguard's webhook records it), a ResourceQuota and an
// admission policy each keep the controller from creating any pod; explain
// quotes the FailedCreate events on every node the DaemonSet is meant for,
// and says what to run.
func TestExplainNotCreated(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		setup  func(t *testing.T, ns string)
		mutate func(*appsv1.DaemonSet)
		cause  string
		next   string
	}{
		"missing serviceaccount": {
			mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.ServiceAccountName = "fluentbit" },
			cause:  `serviceaccount "fluentbit" not found`,
			next:   "create serviceaccount fluentbit",
		},
		"missing priorityclass": {
			mutate: func(ds *appsv1.DaemonSet) {
				ds.Spec.Template.Spec.PriorityClassName = "infra-daemonset-missing"
				ds.Annotations = map[string]string{policy.InjectedAnnotation: "spec.template.spec.priorityClassName"}
			},
			cause: "no PriorityClass with name infra-daemonset-missing was found (daemonguard's mutating webhook injected this priorityClassName)",
			next:  "kubectl create priorityclass infra-daemonset-missing --value=1000000",
		},
		"quota": {
			setup: func(t *testing.T, ns string) {
				q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agents"},
					Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("100m")}}}
				if err := cluster.Client.Create(context.Background(), q); err != nil {
					t.Fatal(err)
				}
				// The quota admits nothing until its controller has
				// computed what is used.
				eventually(t, "the quota's usage", func() (bool, string) {
					got := &corev1.ResourceQuota{}
					if err := cluster.Client.Get(context.Background(), client.ObjectKeyFromObject(q), got); err != nil {
						return false, err.Error()
					}
					_, ok := got.Status.Used[corev1.ResourceRequestsCPU]
					return ok, fmt.Sprintf("status %+v", got.Status)
				})
			},
			mutate: func(ds *appsv1.DaemonSet) {
				ds.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}
			},
			cause: "exceeded quota agents: requested requests.cpu=200m, limited requests.cpu=100m",
			next:  "describe resourcequota",
		},
		"admission denial": {
			setup: denyDaemonPods,
			cause: "ValidatingAdmissionPolicy 'explain-deny-",
			next:  "kubectl get validatingadmissionpolicies",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			if tc.setup != nil {
				tc.setup(t, ns)
			}
			mutate := func(*appsv1.DaemonSet) {}
			if tc.mutate != nil {
				mutate = tc.mutate
			}
			ds := daemonSet(ns, "agent", pool("large"), mutate)
			create(t, ds)
			eventually(t, "a FailedCreate event", func() (bool, string) {
				msgs := events(t, ds, "FailedCreate")
				return len(msgs) > 0, fmt.Sprintf("events %q", msgs)
			})
			e := runExplain(t, ds)
			e.assertReasons(t, byPool(t, map[string]explain.Reason{
				"control-plane": explain.NodeSelectorMismatch, "gpu": explain.NodeSelectorMismatch, "small": explain.NodeSelectorMismatch, "large": explain.NotCreated,
			}))
			causes := e.causes(explain.NotCreated)
			if len(causes) != 1 || !strings.HasPrefix(causes[0], tc.cause) {
				t.Errorf("NotCreated causes %q, want %q", causes, tc.cause)
			}
			if !strings.Contains(e.json.Next, tc.next) {
				t.Errorf("next %q, want %q", e.json.Next, tc.next)
			}
			if e.json.OK || e.json.Desired != 8 || e.json.Running != 0 || !strings.HasPrefix(e.json.Summary, "runs on 0 of 8 nodes it should (20 nodes); 8 NotCreated (") {
				t.Errorf("ok %v desired %d running %d summary %q", e.json.OK, e.json.Desired, e.json.Running, e.json.Summary)
			}
			if !strings.Contains(e.node(t, nodesIn(t, "large")[0]).Detail, "FailedCreate") {
				t.Errorf("the detail does not quote the event: %q", e.node(t, nodesIn(t, "large")[0]).Detail)
			}
			t.Logf("%s:\n%s", name, e.text)
		})
	}
}

// denyDaemonPods installs a ValidatingAdmissionPolicy that refuses every
// pod in ns, and waits until it does.
func denyDaemonPods(t *testing.T, ns string) {
	ctx := context.Background()
	name := "explain-deny-" + ns
	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				}}},
			},
			Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: "no node agents in this namespace"}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: name, ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	for _, o := range []client.Object{vap, binding} {
		if err := cluster.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cluster.Client.Delete(context.Background(), o) })
	}
	probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "c"}}}}
	eventually(t, "the admission policy to refuse pods", func() (bool, string) {
		err := cluster.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		return apierrors.IsForbidden(err) || apierrors.IsInvalid(err), fmt.Sprintf("dry-run create: %v", err)
	})
}

// TestExplainPending: requests a small pool cannot hold and a host port
// another DaemonSet holds leave daemon pods Pending; explain gives the
// scheduler's reason on exactly those nodes, with the shortfall and the
// pod holding the port.
func TestExplainPending(t *testing.T) {
	t.Parallel()
	t.Run("pool too small", func(t *testing.T) {
		t.Parallel()
		ds := daemonSet(namespace(t), "big", func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}
		})
		create(t, ds)
		small := nodesIn(t, "small")
		eventually(t, "pods Pending on the small pool and Running on the large one", func() (bool, string) {
			var running, pending int
			for _, p := range pods(t, ds) {
				switch {
				case p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning && podIsReady(&p):
					running++
				case strings.Contains(unschedulable(&p), "Insufficient cpu"):
					pending++
				}
			}
			return running == len(nodesIn(t, "large")) && pending == len(small), fmt.Sprintf("%d running, %d pending", running, pending)
		})
		e := runExplain(t, ds)
		e.assertReasons(t, byPool(t, map[string]explain.Reason{
			"control-plane": explain.TaintNotTolerated, "gpu": explain.TaintNotTolerated, "small": explain.Pending, "large": explain.Running,
		}))
		if got := e.causes(explain.Pending); !slices.Equal(got, []string{"Insufficient cpu"}) {
			t.Errorf("Pending causes %q", got)
		}
		if d := e.node(t, small[0]).Detail; !strings.Contains(d, "requests cpu 3; the whole node has 2 allocatable") {
			t.Errorf("detail %q does not give the shortfall", d)
		}
		if e.json.OK || !strings.Contains(e.json.Summary, "; 7 Pending (Insufficient cpu);") {
			t.Errorf("ok %v, summary %q", e.json.OK, e.json.Summary)
		}
		if !strings.Contains(e.json.Next, "describe pod big-") {
			t.Errorf("next %q", e.json.Next)
		}
		t.Logf("\n%s", e.text)
	})
	t.Run("host port held by another DaemonSet", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t)
		port := func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: 19300, HostPort: 19300}}
		}
		holder := daemonSet(ns, "holder", pool("small"), port)
		create(t, holder)
		waitSettled(t, holder)
		late := daemonSet(ns, "late", pool("small"), port)
		create(t, late)
		small := nodesIn(t, "small")
		eventually(t, "every late pod waiting for its port", func() (bool, string) {
			n := 0
			for _, p := range pods(t, late) {
				if strings.Contains(unschedulable(&p), "free ports") {
					n++
				}
			}
			return n == len(small), fmt.Sprintf("%d of %d", n, len(small))
		})
		e := runExplain(t, late)
		e.assertReasons(t, byPool(t, map[string]explain.Reason{
			"control-plane": explain.NodeSelectorMismatch, "gpu": explain.NodeSelectorMismatch, "small": explain.Pending, "large": explain.NodeSelectorMismatch,
		}))
		holders := map[string]string{}
		for _, p := range pods(t, holder) {
			holders[p.Spec.NodeName] = p.Name
		}
		for _, name := range small {
			want := fmt.Sprintf("host port 19300/TCP is held by pod %s/%s (DaemonSet holder)", ns, holders[name])
			if d := e.node(t, name).Detail; !strings.Contains(d, want) {
				t.Errorf("%s: detail %q, want %q", name, d, want)
			}
		}
		// One lookup of the pods on each node with a port conflict.
		if e.requests != int64(reads+len(small)) {
			t.Errorf("%d API requests, want %d", e.requests, reads+len(small))
		}
		t.Logf("\n%s", e.text)
	})
}

func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestExplainNotReady: daemon pods whose kubelet reports a crash loop, a
// failing readiness probe and an image pull back-off are NotReady with that
// container state; the rest of the pool runs.
func TestExplainNotReady(t *testing.T) {
	t.Parallel()
	ds := daemonSet(namespace(t), "agent", pool("small"), func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}}
	})
	create(t, ds)
	waitSettled(t, ds)
	small := nodesIn(t, "small")
	byNode := map[string]corev1.Pod{}
	for _, p := range pods(t, ds) {
		byNode[p.Spec.NodeName] = p
	}
	notReady := func(p corev1.Pod, cs corev1.ContainerStatus) corev1.PodStatus {
		st := p.Status
		st.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: nowTime()},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: nowTime()},
			{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: nowTime()},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [agent]", LastTransitionTime: nowTime()},
		}
		cs.Name, cs.Image = "agent", p.Spec.Containers[0].Image
		st.ContainerStatuses = []corev1.ContainerStatus{cs}
		return st
	}
	crash, probe, pull := small[0], small[1], small[2]
	setPodStatus(t, ptr.To(byNode[crash]), notReady(byNode[crash], corev1.ContainerStatus{
		RestartCount:         6,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 2m40s restarting failed container=agent"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", StartedAt: nowTime(), FinishedAt: nowTime()}},
	}))
	setPodStatus(t, ptr.To(byNode[probe]), notReady(byNode[probe], corev1.ContainerStatus{
		Started: ptr.To(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: nowTime()}},
	}))
	setPodStatus(t, ptr.To(byNode[pull]), notReady(byNode[pull], corev1.ContainerStatus{
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "registry.example/agent:1"`}},
	}))
	eventually(t, "the controller to count 3 pods not ready", func() (bool, string) {
		st := get(t, ds).Status
		return st.NumberReady == st.DesiredNumberScheduled-3, fmt.Sprintf("status %+v", st)
	})
	e := runExplain(t, ds)
	w := byPool(t, map[string]explain.Reason{"control-plane": explain.NodeSelectorMismatch, "gpu": explain.NodeSelectorMismatch, "small": explain.Running, "large": explain.NodeSelectorMismatch})
	w[crash], w[probe], w[pull] = explain.NotReady, explain.NotReady, explain.NotReady
	e.assertReasons(t, w)
	for node, cause := range map[string]string{crash: "CrashLoopBackOff", probe: "readiness probe failing", pull: "ImagePullBackOff"} {
		if n := e.node(t, node); n.Cause != cause || n.Runs {
			t.Errorf("%s: cause %q runs %v, want %q and not running", node, n.Cause, n.Runs, cause)
		}
	}
	if d := e.node(t, crash).Detail; !strings.Contains(d, "restarted 6 times, last exit code 1 (Error)") {
		t.Errorf("crash loop detail %q", d)
	}
	if d := e.node(t, probe).Detail; !strings.Contains(d, "readiness probe fails (GET /healthz on port 8080)") {
		t.Errorf("probe detail %q", d)
	}
	if want := fmt.Sprintf("kubectl -n %s logs %s -c agent --previous", ds.Namespace, byNode[crash].Name); e.json.Next != want {
		t.Errorf("next %q, want %q", e.json.Next, want)
	}
	if e.json.OK || e.json.Running != len(small)-3 {
		t.Errorf("ok %v, running %d", e.json.OK, e.json.Running)
	}
	t.Logf("\n%s", e.text)
}

// TestExplainStalledSurge: hostPort with maxSurge 1 (kubernetes#106417):
// after an image bump the surge pod waits for the port its predecessor
// holds. explain says so on that node (the old pod still runs), names the
// block in the rollout and prints the fix; applying it lets the rollout
// finish, and explain then exits 0.
func TestExplainStalledSurge(t *testing.T) {
	t.Parallel()
	ds := daemonSet(namespace(t), "exporter", pool("small"), func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: 19310, HostPort: 19310}}
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(0))}}
	})
	create(t, ds)
	cur := waitSettled(t, ds)
	cur.Spec.Template.Spec.Containers[0].Image = "registry.example/agent:2"
	if err := cluster.Client.Update(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	var stuck []string
	eventually(t, "a surge pod stuck on its port", func() (bool, string) {
		stuck = nil
		for _, p := range pods(t, ds) {
			if strings.Contains(unschedulable(&p), "free ports") {
				stuck = append(stuck, targetNode(&p))
			}
		}
		return len(stuck) > 0 && get(t, ds).Status.ObservedGeneration == cur.Generation, fmt.Sprintf("stuck on %v", stuck)
	})
	e := runExplain(t, ds)
	small := nodesIn(t, "small")
	w := byPool(t, map[string]explain.Reason{"control-plane": explain.NodeSelectorMismatch, "gpu": explain.NodeSelectorMismatch, "small": explain.Running, "large": explain.NodeSelectorMismatch})
	for _, n := range stuck {
		w[n] = explain.Pending
		if got := e.node(t, n); !got.Runs || !strings.Contains(got.Detail, "is held by pod "+ds.Namespace+"/exporter-") || !strings.Contains(got.Detail, "keeps running") {
			t.Errorf("%s: runs %v detail %q: want the old pod running and named as the holder", n, got.Runs, got.Detail)
		}
	}
	e.assertReasons(t, w)
	ro := e.json.Rollout
	if ro.MaxSurge != 1 || ro.Left != len(small) || ro.Complete || len(ro.Blocked) == 0 || !strings.Contains(strings.Join(ro.Blocked, "\n"), "kubernetes#106417") {
		t.Errorf("rollout %+v", ro)
	}
	if e.json.OK || e.json.Running != len(small) {
		t.Errorf("ok %v running %d: the old pods run everywhere, the rollout is stuck", e.json.OK, e.json.Running)
	}
	if !strings.Contains(e.json.Next, `"maxSurge":0`) || !strings.Contains(e.text, "blocked: ") {
		t.Errorf("next %q; text:\n%s", e.json.Next, e.text)
	}
	t.Logf("stalled:\n%s", e.text)

	// The fix explain prints.
	fixed := get(t, ds)
	fixed.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: ptr.To(intstr.FromInt32(0)), MaxUnavailable: ptr.To(intstr.FromInt32(1))}
	if err := cluster.Client.Update(context.Background(), fixed); err != nil {
		t.Fatal(err)
	}
	waitSettled(t, ds)
	e = runExplain(t, ds)
	if !e.json.OK || !e.json.Rollout.Complete || e.json.Rollout.Updated != len(small) {
		t.Errorf("after maxSurge 0: ok %v, rollout %+v\n%s", e.json.OK, e.json.Rollout, e.text)
	}
}

// TestExplainCordoned: a cordoned node still runs its daemon pod (the
// controller tolerates node.kubernetes.io/unschedulable); explain says so
// and does not call it missing. Not parallel: it cordons a shared node.
func TestExplainCordoned(t *testing.T) {
	const name = "large-001"
	withNodeChange(t, name, func(n *corev1.Node) { n.Spec.Unschedulable = true }, func(n *corev1.Node) { n.Spec.Unschedulable = false },
		func(n *corev1.Node) bool { return hasTaint(n, corev1.TaintNodeUnschedulable) })
	ds := daemonSet(namespace(t), "agent", pool("large"))
	create(t, ds)
	waitSettled(t, ds)
	e := runExplain(t, ds)
	e.assertReasons(t, byPool(t, map[string]explain.Reason{"control-plane": explain.NodeSelectorMismatch, "gpu": explain.NodeSelectorMismatch, "small": explain.NodeSelectorMismatch, "large": explain.Running}))
	n := e.node(t, name)
	if !n.Cordoned || !n.Runs || !strings.Contains(n.Detail, "tolerates node.kubernetes.io/unschedulable") {
		t.Errorf("%s: %+v", name, n)
	}
	if !strings.Contains(e.text, "  cordoned, still covered (the DaemonSet controller tolerates node.kubernetes.io/unschedulable): "+name+"\n") || !e.json.OK {
		t.Errorf("ok %v; the text does not note the cordoned node:\n%s", e.json.OK, e.text)
	}
	t.Logf("\n%s", e.text)
}

// TestExplainSurplus: a NoSchedule taint added under a running daemon pod
// makes the node one the DaemonSet is no longer meant for; the controller
// leaves the pod (only NoExecute evicts), and explain calls it Surplus, with
// the taint. Not parallel: it taints a shared node.
func TestExplainSurplus(t *testing.T) {
	const name = "large-002"
	taint := corev1.Taint{Key: "explain-test", Value: "surplus", Effect: corev1.TaintEffectNoSchedule}
	ds := daemonSet(namespace(t), "agent", pool("large"))
	create(t, ds)
	waitSettled(t, ds)
	withNodeChange(t, name,
		func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, taint) },
		func(n *corev1.Node) {
			n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, func(x corev1.Taint) bool { return x.Key == taint.Key })
		},
		func(n *corev1.Node) bool { return hasTaint(n, taint.Key) })
	e := runExplain(t, ds)
	w := byPool(t, map[string]explain.Reason{"control-plane": explain.NodeSelectorMismatch, "gpu": explain.NodeSelectorMismatch, "small": explain.NodeSelectorMismatch, "large": explain.Running})
	w[name] = explain.Surplus
	e.assertReasons(t, w)
	n := e.node(t, name)
	if n.ShouldRun || !n.Runs || n.Cause != "explain-test=surplus:NoSchedule" || !strings.Contains(n.Detail, "stays") {
		t.Errorf("%s: %+v", name, n)
	}
	if !e.json.OK || e.json.Desired != 7 || e.json.Running != 7 {
		t.Errorf("ok %v desired %d running %d: a surplus pod is not a missing one", e.json.OK, e.json.Desired, e.json.Running)
	}
	t.Logf("\n%s", e.text)
}

// withNodeChange applies change to a shared node, waits until done says it
// took effect, and undoes it (waiting again) when the test ends.
func withNodeChange(t *testing.T, name string, change, undo func(*corev1.Node), done func(*corev1.Node) bool) {
	t.Helper()
	ctx := context.Background()
	state := func() (*corev1.Node, error) {
		n := &corev1.Node{}
		return n, cluster.Client.Get(ctx, client.ObjectKey{Name: name}, n)
	}
	if err := patchNode(ctx, name, change); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := patchNode(ctx, name, undo); err != nil {
			t.Errorf("undoing the change to %s: %v", name, err)
		}
		eventually(t, "node "+name+" back as it was", func() (bool, string) {
			n, err := state()
			if err != nil {
				return false, err.Error()
			}
			return !done(n) && sim.Ready(n), fmt.Sprintf("taints %v", n.Spec.Taints)
		})
	})
	eventually(t, "the change to node "+name, func() (bool, string) {
		n, err := state()
		if err != nil {
			return false, err.Error()
		}
		return done(n), fmt.Sprintf("taints %v", n.Spec.Taints)
	})
}

// TestExplainNodeNotReady: a node the DaemonSet runs on reports NotReady;
// the node lifecycle controller taints it, the controller leaves the pod
// but counts the node out; explain names the node NodeNotReady (not
// missing, not excluded). The node is one of the test's own, not kwok's:
// the test plays its kubelet, posting node and pod status. Not parallel: a
// 21st node would surprise the other tests.
func TestExplainNodeNotReady(t *testing.T) {
	ctx := context.Background()
	const name, poolName = "explain-manual-000", "explain-manual"
	keepAway := corev1.Taint{Key: "explain-manual", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{sim.PoolLabel: poolName, "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
		// Other tests' DaemonSets stay away from it.
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{keepAway}},
	}
	if err := cluster.Client.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// No kubelet will confirm its pods' deletion: force it.
		var left corev1.PodList
		if err := cluster.Client.List(context.Background(), &left, client.MatchingFields{"spec.nodeName": name}); err == nil {
			for i := range left.Items {
				_ = cluster.Client.Delete(context.Background(), &left.Items[i], client.GracePeriodSeconds(0))
			}
		}
		if err := cluster.Client.Delete(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Errorf("deleting node %s: %v", name, err)
		}
		eventually(t, "node "+name+" gone", func() (bool, string) {
			err := cluster.Client.Get(context.Background(), client.ObjectKey{Name: name}, &corev1.Node{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
	})
	// postReady writes the node's status as its kubelet would; the node
	// lifecycle controller writes the node too, hence the retries.
	postReady := func(status corev1.ConditionStatus, reason, msg string) {
		t.Helper()
		eventually(t, "posting the node's status", func() (bool, string) {
			cur := &corev1.Node{}
			if err := cluster.Client.Get(ctx, client.ObjectKey{Name: name}, cur); err != nil {
				return false, err.Error()
			}
			alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}
			cur.Status.Allocatable, cur.Status.Capacity = alloc, alloc.DeepCopy()
			cur.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: reason, Message: msg,
				LastHeartbeatTime: nowTime(), LastTransitionTime: nowTime()}}
			err := cluster.Client.Status().Update(ctx, cur)
			if err != nil && !apierrors.IsConflict(err) {
				t.Fatal(err)
			}
			return err == nil, fmt.Sprint(err)
		})
	}
	postReady(corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status")
	eventually(t, "the node lifecycle controller to find the node Ready", func() (bool, string) {
		cur := &corev1.Node{}
		if err := cluster.Client.Get(ctx, client.ObjectKey{Name: name}, cur); err != nil {
			return false, err.Error()
		}
		return sim.Ready(cur), fmt.Sprintf("taints %v", cur.Spec.Taints)
	})

	ds := daemonSet(namespace(t), "agent", pool(poolName), func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: keepAway.Key, Operator: corev1.TolerationOpExists}}
	})
	create(t, ds)
	var p corev1.Pod
	eventually(t, "the daemon pod bound to the node", func() (bool, string) {
		ps := pods(t, ds)
		if len(ps) == 1 && ps[0].Spec.NodeName == name {
			p = ps[0]
			return true, ""
		}
		return false, fmt.Sprintf("%d pods", len(ps))
	})
	// Its kubelet starts it.
	setPodStatus(t, &p, corev1.PodStatus{
		Phase: corev1.PodRunning, StartTime: ptr.To(nowTime()),
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: nowTime()},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: nowTime()},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: nowTime()},
		},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "agent", Image: p.Spec.Containers[0].Image, Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: nowTime()}}}},
	})
	others := func(reason explain.Reason) want {
		all, err := cluster.ListNodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w := want{}
		for _, node := range all {
			w[node.Name] = explain.NodeSelectorMismatch
		}
		w[name] = reason
		return w
	}
	runExplain(t, ds).assertReasons(t, others(explain.Running))

	// The node falls ill.
	postReady(corev1.ConditionFalse, "KubeletNotReady", "container runtime network not ready")
	eventually(t, "the node lifecycle controller to taint the node not-ready", func() (bool, string) {
		cur := &corev1.Node{}
		if err := cluster.Client.Get(ctx, client.ObjectKey{Name: name}, cur); err != nil {
			return false, err.Error()
		}
		return hasTaint(cur, corev1.TaintNodeNotReady), fmt.Sprintf("taints %v", cur.Spec.Taints)
	})
	e := runExplain(t, ds)
	e.assertReasons(t, others(explain.NodeNotReady))
	got := e.node(t, name)
	if !got.ShouldRun || got.NodeReady || got.Cause != "Ready=False (KubeletNotReady)" ||
		!strings.Contains(got.Detail, "creates no daemon pod on it until it is Ready") || !strings.Contains(got.Detail, "pod "+p.Name+" stays") {
		t.Errorf("%s: %+v", name, got)
	}
	if e.json.OK || e.json.Desired != 1 || e.json.Next != "kubectl describe node "+name {
		t.Errorf("ok %v desired %d next %q", e.json.OK, e.json.Desired, e.json.Next)
	}
	t.Logf("\n%s", e.text)
}

// TestExplainTextOnSeedAgent: the seed article's fluent-bit agent, as
// written (serviceAccountName fluentbit, which nobody created), on the
// whole cluster: the text a user reads first.
func TestExplainTextOnSeedAgent(t *testing.T) {
	t.Parallel()
	ds := daemonSet(namespace(t), "fluentbit", func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.ServiceAccountName = "fluentbit"
		ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	})
	create(t, ds)
	eventually(t, "a FailedCreate event and the controller's count", func() (bool, string) {
		msgs := events(t, ds, "FailedCreate")
		st := get(t, ds).Status
		return len(msgs) > 0 && st.DesiredNumberScheduled == 18, fmt.Sprintf("events %q, status %+v", msgs, st)
	})
	e := runExplain(t, ds)
	wantStart := "daemonset " + ds.Namespace + `/fluentbit: runs on 0 of 18 nodes it should (20 nodes); 18 NotCreated (serviceaccount "fluentbit" not found); not meant for 2: 2 TaintNotTolerated (dedicated=gpu:NoSchedule)` + "\n\n" +
		`NotCreated: serviceaccount "fluentbit" not found — 18 nodes` + "\n"
	if !strings.HasPrefix(e.text, wantStart) {
		t.Errorf("text starts\n%s\nwant\n%s", e.text, wantStart)
	}
	for _, line := range []string{
		"  control-plane-000, control-plane-001, control-plane-002, large-000, large-001, large-002, large-003, large-004 … and 10 more\n" +
			`  the DaemonSet controller cannot create the pod: serviceaccount "fluentbit" not found (FailedCreate, `,
		"TaintNotTolerated: dedicated=gpu:NoSchedule — 2 nodes, not meant for them\n  gpu-000, gpu-001\n",
		"rollout: RollingUpdate (maxUnavailable 1, maxSurge 0): 0 updated, 0 available of 18 desired; 18 nodes left, 1 at a time\n",
		"\nnext: kubectl -n " + ds.Namespace + " create serviceaccount fluentbit   # or fix spec.template.spec.serviceAccountName\n",
	} {
		if !strings.Contains(e.text, line) {
			t.Errorf("text lacks %q:\n%s", line, e.text)
		}
	}
	t.Logf("\n%s", e.text)
}
