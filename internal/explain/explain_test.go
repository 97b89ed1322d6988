package explain

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/daemonguard/daemonguard/internal/policy"
)

// TestReasons: one situation per reason code, judged on the node named w
// (the others fine or absent); the reason, whether it should run and runs,
// the cause and the detail's key words.
func TestReasons(t *testing.T) {
	pool := func(p string) map[string]string { return map[string]string{"node.kubernetes.io/pool": p} }
	tests := map[string]struct {
		in                func() Input
		reason            Reason
		shouldRun, runs   bool
		cause             string
		detail            []string
		next              string
		ok                bool
		blockedContaining string
	}{
		"running": {
			in:     func() Input { return input(daemonSet(), []*corev1.Node{node("w", nil)}, pod("p", "w")) },
			reason: Running, shouldRun: true, runs: true, ok: true,
		},
		"taint not tolerated": {
			in:     func() Input { return input(daemonSet(), []*corev1.Node{node("w", nil, gpuTaint)}) },
			reason: TaintNotTolerated, cause: "dedicated=gpu:NoSchedule", detail: []string{"tainted dedicated=gpu:NoSchedule"}, ok: true,
		},
		"network unavailable, not hostNetwork": {
			in: func() Input {
				return input(daemonSet(), []*corev1.Node{node("w", nil, corev1.Taint{Key: corev1.TaintNodeNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule})})
			},
			reason: TaintNotTolerated, cause: "node.kubernetes.io/network-unavailable:NoSchedule", detail: []string{"only hostNetwork"}, ok: true,
		},
		"network unavailable, hostNetwork": {
			in: func() Input {
				ds := daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.HostNetwork = true })
				return input(ds, []*corev1.Node{node("w", nil, corev1.Taint{Key: corev1.TaintNodeNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule})}, pod("p", "w"))
			},
			reason: Running, shouldRun: true, runs: true, ok: true,
		},
		"selector, other value": {
			in: func() Input {
				ds := daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = pool("small") })
				return input(ds, []*corev1.Node{node("w", pool("large"))})
			},
			reason: NodeSelectorMismatch, cause: "nodeSelector node.kubernetes.io/pool=small", detail: []string{"the node has node.kubernetes.io/pool=large"}, ok: true,
		},
		"selector, no label": {
			in: func() Input {
				ds := daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = map[string]string{"disktype": "nvme"} })
				return input(ds, []*corev1.Node{node("w", nil)})
			},
			reason: NodeSelectorMismatch, cause: "nodeSelector disktype=nvme", detail: []string{"the node has no label disktype"}, ok: true,
		},
		"nodeName": {
			in: func() Input {
				ds := daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeName = "elsewhere" })
				return input(ds, []*corev1.Node{node("w", nil)})
			},
			reason: NodeSelectorMismatch, cause: "nodeName elsewhere", detail: []string{"pins the pod to node elsewhere"}, ok: true,
		},
		"affinity, one term": {
			in: func() Input {
				ds := daemonSet(requireAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: "kubernetes.io/os", Operator: corev1.NodeSelectorOpDoesNotExist},
					{Key: "node.kubernetes.io/pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"gpu", "large"}},
				}}))
				return input(ds, []*corev1.Node{node("w", pool("small"))})
			},
			reason: NodeAffinityMismatch,
			cause:  "requiredDuringSchedulingIgnoredDuringExecution kubernetes.io/os DoesNotExist, node.kubernetes.io/pool In [gpu,large]",
			detail: []string{"term 0: node.kubernetes.io/pool In [gpu,large]; the node has node.kubernetes.io/pool=small"}, ok: true,
		},
		"affinity, two terms": {
			in: func() Input {
				ds := daemonSet(requireAffinity(
					corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}},
					corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"x"}}}},
				))
				return input(ds, []*corev1.Node{node("w", nil)})
			},
			reason: NodeAffinityMismatch, cause: "requiredDuringSchedulingIgnoredDuringExecution: none of 2 terms",
			detail: []string{"term 0: zone In [a]; the node has no label zone", "term 1: field metadata.name In [x]; the node is w"}, ok: true,
		},
		"not created, service account": {
			in: func() Input {
				in := input(daemonSet(), []*corev1.Node{node("w", nil)})
				in.Events = []corev1.Event{
					failedCreateEvent(`Error creating: pods "agent-abcde" is forbidden: error looking up service account ns/fluentbit: serviceaccount "fluentbit" not found`, 3, now.Add(-time.Minute)),
					failedCreateEvent(`(combined from similar events): Error creating: pods "agent-fghij" is forbidden: error looking up service account ns/fluentbit: serviceaccount "fluentbit" not found`, 9, now.Add(-5*time.Second)),
				}
				return in
			},
			reason: NotCreated, shouldRun: true, cause: `serviceaccount "fluentbit" not found`,
			detail: []string{"cannot create the pod", "12 times", "last 5s ago"},
			next:   "kubectl -n ns create serviceaccount fluentbit",
		},
		"not created, injected priority class": {
			in: func() Input {
				ds := daemonSet(func(ds *appsv1.DaemonSet) {
					ds.Spec.Template.Spec.PriorityClassName = "infra-daemonset"
					ds.Annotations = map[string]string{policy.InjectedAnnotation: "spec.template.spec.priorityClassName"}
				})
				in := input(ds, []*corev1.Node{node("w", nil)})
				in.Events = []corev1.Event{failedCreateEvent(`Error creating: pods "agent-x" is forbidden: no PriorityClass with name infra-daemonset was found`, 1, now)}
				return in
			},
			reason: NotCreated, shouldRun: true,
			cause: "no PriorityClass with name infra-daemonset was found (daemonguard's mutating webhook injected this priorityClassName)",
			next:  "kubectl create priorityclass infra-daemonset --value=1000000",
		},
		"not created, quota": {
			in: func() Input {
				in := input(daemonSet(), []*corev1.Node{node("w", nil)})
				in.Events = []corev1.Event{
					failedCreateEvent(`Error creating: pods "agent-x" is forbidden: exceeded quota: q, requested: requests.cpu=200m, used: requests.cpu=0, limited: requests.cpu=100m`, 1, now.Add(-time.Second)),
					failedCreateEvent(`Error creating: pods "agent-y" is forbidden: exceeded quota: q, requested: requests.cpu=200m, used: requests.cpu=70m, limited: requests.cpu=100m`, 1, now),
				}
				return in
			},
			reason: NotCreated, shouldRun: true, cause: "exceeded quota q: requested requests.cpu=200m, limited requests.cpu=100m",
			detail: []string{"2 times"}, next: "kubectl -n ns describe resourcequota",
		},
		"not created, daemonguard webhook": {
			in: func() Input {
				in := input(daemonSet(), []*corev1.Node{node("w", nil)})
				in.Events = []corev1.Event{failedCreateEvent(`Error creating: admission webhook "validate.daemonguard.io" denied the request: no`, 1, now)}
				return in
			},
			reason: NotCreated, shouldRun: true, cause: `admission webhook "validate.daemonguard.io" denied the request: no (daemonguard's own webhook)`,
		},
		"not created, no event": {
			in:     func() Input { return input(daemonSet(), []*corev1.Node{node("w", nil)}) },
			reason: NotCreated, shouldRun: true, cause: "no pod", detail: []string{"has not created one"},
		},
		"not created, previous pod terminating": {
			in: func() Input {
				return input(daemonSet(), []*corev1.Node{node("w", nil)}, pod("p", "w", old, func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(now)) }))
			},
			reason: NotCreated, shouldRun: true, cause: "previous pod terminating",
		},
		"pending, insufficient cpu": {
			in: func() Input {
				big := func(p *corev1.Pod) {
					p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}
				}
				return input(daemonSet(), []*corev1.Node{node("w", nil)}, pod("p", "w", big,
					unbound("0/20 nodes are available: 1 Insufficient cpu, 19 node(s) didn't satisfy plugin(s) [NodeAffinity]. preemption: 0/20 nodes are available: 20 Preemption is not helpful for scheduling.")))
			},
			reason: Pending, shouldRun: true, cause: "Insufficient cpu", detail: []string{"requests cpu 3; the whole node has 2 allocatable"},
			next: "kubectl -n ns describe pod p", blockedContaining: "1 updated pod cannot be scheduled (Insufficient cpu) on w",
		},
		"pending, port held by another DaemonSet": {
			in: func() Input {
				in := input(daemonSet(), []*corev1.Node{node("w", nil)}, pod("p", "w", hostPort(9100),
					unbound("0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 2 node(s) didn't satisfy plugin(s) [NodeAffinity].")))
				other := pod("exporter-1", "w", hostPort(9100), func(p *corev1.Pod) {
					p.Namespace = "monitoring"
					p.OwnerReferences[0].Name = "node-exporter"
				})
				in.NodePods = map[string][]*corev1.Pod{"w": {other}}
				return in
			},
			reason: Pending, shouldRun: true, cause: "didn't have free ports for the requested pod ports",
			detail: []string{"host port 9100/TCP is held by pod monitoring/exporter-1 (DaemonSet node-exporter)"},
		},
		"pending surge pod behind its predecessor's port": {
			in: func() Input {
				ds := daemonSet(func(ds *appsv1.DaemonSet) {
					ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(0))}
				})
				return input(ds, []*corev1.Node{node("w", nil)},
					pod("p-old", "w", hostPort(9100), old),
					pod("p-new", "w", hostPort(9100), unbound("0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.")))
			},
			reason: Pending, shouldRun: true, runs: true, cause: "didn't have free ports for the requested pod ports",
			detail:            []string{"host port 9100/TCP is held by pod ns/p-old (DaemonSet agent)", "pod p-old keeps running"},
			next:              `kubectl -n ns patch daemonset agent -p '{"spec":{"updateStrategy":{"rollingUpdate":{"maxSurge":0,"maxUnavailable":1}}}}'`,
			blockedContaining: "kubernetes#106417",
		},
		"not ready, crash loop": {
			in:     func() Input { return input(daemonSet(), []*corev1.Node{node("w", nil)}, pod("p", "w", crashLooping)) },
			reason: NotReady, shouldRun: true, cause: "CrashLoopBackOff",
			detail: []string{"container agent: CrashLoopBackOff", "restarted 5 times, last exit code 1 (Error)"},
			next:   "kubectl -n ns logs p -c agent --previous",
		},
		"not ready, readiness probe": {
			in: func() Input {
				return input(daemonSet(), []*corev1.Node{node("w", nil)}, pod("p", "w", func(p *corev1.Pod) {
					p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}}
					p.Status.Conditions[0].Status = corev1.ConditionFalse
					p.Status.ContainerStatuses[0].Ready = false
				}))
			},
			reason: NotReady, shouldRun: true, cause: "readiness probe failing", detail: []string{"GET /ready on port 8080"},
			next: "kubectl -n ns describe pod p",
		},
		"not ready, image pull": {
			in: func() Input {
				return input(daemonSet(), []*corev1.Node{node("w", nil)}, pod("p", "w", func(p *corev1.Pod) {
					p.Status.Phase = corev1.PodPending
					p.Status.Conditions[0].Status = corev1.ConditionFalse
					p.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "agent", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "agent:2"`}}}
				}))
			},
			reason: NotReady, shouldRun: true, cause: "ImagePullBackOff", detail: []string{`Back-off pulling image "agent:2"`},
		},
		"node not ready, pod stays": {
			in:     func() Input { return input(daemonSet(), []*corev1.Node{notReady(node("w", nil))}, pod("p", "w")) },
			reason: NodeNotReady, shouldRun: true, runs: true, cause: "Ready=False (KubeletNotReady)",
			detail: []string{"since 2026-12-07T11:58:00Z (2m ago)", "creates no daemon pod on it", "pod p stays"},
			next:   "kubectl describe node w",
		},
		"node never ready": {
			in: func() Input {
				n := node("w", nil, notReadyTaint)
				n.Status.Conditions = nil
				return input(daemonSet(), []*corev1.Node{n})
			},
			reason: NodeNotReady, shouldRun: true, cause: "has never reported Ready",
		},
		"not ready node outside the selection is not NodeNotReady": {
			in: func() Input {
				return input(daemonSet(), []*corev1.Node{notReady(node("w", nil, gpuTaint))})
			},
			reason: TaintNotTolerated, cause: "dedicated=gpu:NoSchedule", ok: true,
		},
		"cordoned": {
			in: func() Input {
				n := node("w", nil, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
				n.Spec.Unschedulable = true
				return input(daemonSet(), []*corev1.Node{n}, pod("p", "w"))
			},
			reason: Running, shouldRun: true, runs: true, ok: true,
			detail: []string{"cordoned; the DaemonSet controller tolerates node.kubernetes.io/unschedulable"},
		},
		"old revision still running": {
			in:     func() Input { return input(daemonSet(), []*corev1.Node{node("w", nil)}, pod("p", "w", old)) },
			reason: Running, shouldRun: true, runs: true, ok: true, detail: []string{"runs an older revision"},
		},
		"surplus, kept": {
			in:     func() Input { return input(daemonSet(), []*corev1.Node{node("w", nil, gpuTaint)}, pod("p", "w")) },
			reason: Surplus, runs: true, cause: "dedicated=gpu:NoSchedule", detail: []string{"pod p stays"}, ok: true,
			next: "kubectl describe node w",
		},
		"surplus, deleted": {
			in: func() Input {
				ds := daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = pool("small") })
				return input(ds, []*corev1.Node{node("w", pool("large"))}, pod("p", "w"))
			},
			reason: Surplus, runs: true, cause: "nodeSelector node.kubernetes.io/pool=small", detail: []string{"the controller deletes pod p"}, ok: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := Explain(tc.in())
			n := byName(r, "w")
			if n == nil {
				t.Fatalf("no node w in %+v", r.Nodes)
			}
			if n.Reason != tc.reason || n.ShouldRun != tc.shouldRun || n.Runs != tc.runs {
				t.Errorf("reason %s, shouldRun %v, runs %v; want %s, %v, %v (detail %q)", n.Reason, n.ShouldRun, n.Runs, tc.reason, tc.shouldRun, tc.runs, n.Detail)
			}
			if tc.cause != "" && n.Cause != tc.cause {
				t.Errorf("cause %q, want %q", n.Cause, tc.cause)
			}
			for _, d := range tc.detail {
				if !strings.Contains(n.Detail, d) {
					t.Errorf("detail %q does not say %q", n.Detail, d)
				}
			}
			if tc.next != "" && !strings.HasPrefix(r.Next, tc.next) {
				t.Errorf("next %q, want %q", r.Next, tc.next)
			}
			if r.OK != tc.ok {
				t.Errorf("OK = %v, want %v", r.OK, tc.ok)
			}
			if tc.blockedContaining != "" && !slices.ContainsFunc(r.Rollout.Blocked, func(s string) bool { return strings.Contains(s, tc.blockedContaining) }) {
				t.Errorf("rollout blocked %q, want a line with %q", r.Rollout.Blocked, tc.blockedContaining)
			}
			var text bytes.Buffer
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), string(tc.reason)) {
				t.Errorf("text output does not name %s:\n%s", tc.reason, text.String())
			}
		})
	}
}

func requireAffinity(terms ...corev1.NodeSelectorTerm) func(*appsv1.DaemonSet) {
	return func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
		}}
	}
}

// TestSummaryAndText: a mixed cluster's summary line counts what runs
// among the nodes it should run on, names each problem with its cause, then
// the nodes it is not meant for; the text groups them and collapses long
// lists; the JSON has every node.
func TestSummaryAndText(t *testing.T) {
	var ns []*corev1.Node
	var pods []*corev1.Pod
	for _, name := range []string{"w-0", "w-1", "w-2", "w-3", "w-4", "w-5", "w-6", "w-7", "w-8", "w-9"} {
		n := node(name, nil)
		n.Spec.Unschedulable = name == "w-9"
		ns = append(ns, n)
		if name == "w-8" {
			pods = append(pods, pod("p-"+name, name, old))
		} else {
			pods = append(pods, pod("p-"+name, name))
		}
	}
	ns = append(ns, node("gpu-0", nil, gpuTaint), node("gpu-1", nil, gpuTaint), node("small-0", nil))
	pods = append(pods, pod("p-small-0", "small-0", unbound("0/13 nodes are available: 1 Insufficient cpu, 12 node(s) didn't satisfy plugin(s) [NodeAffinity].")))
	r := Explain(input(daemonSet(), ns, pods...))
	want := "runs on 10 of 11 nodes it should (13 nodes); 1 Pending (Insufficient cpu); not meant for 2: 2 TaintNotTolerated (dedicated=gpu:NoSchedule)"
	if r.Summary != want {
		t.Errorf("summary\n%s\nwant\n%s", r.Summary, want)
	}
	if r.Desired != 11 || r.Running != 10 || r.NodeCount != 13 || r.OK {
		t.Errorf("desired %d running %d nodes %d ok %v", r.Desired, r.Running, r.NodeCount, r.OK)
	}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, line := range []string{
		"daemonset ns/agent: " + want + "\n",
		"Pending: Insufficient cpu — 1 node\n  small-0: pod p-small-0: Insufficient cpu (requests cpu 0 of the node's 2 allocatable; its other pods hold the rest)\n",
		"TaintNotTolerated: dedicated=gpu:NoSchedule — 2 nodes, not meant for them\n  gpu-0, gpu-1\n",
		"Running — 10 nodes, ready\n  w-0, w-1, w-2, w-3, w-4, w-5, w-6, w-7 … and 2 more\n" +
			"  cordoned, still covered (the DaemonSet controller tolerates node.kubernetes.io/unschedulable): w-9\n" +
			"  runs an older revision: w-8\n",
		"rollout: RollingUpdate (maxUnavailable 1, maxSurge 0): 0 updated, 0 available of 0 desired; 2 nodes left, 1 at a time\n",
		"\nnext: kubectl -n ns describe pod p-small-0\n",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("text lacks %q:\n%s", line, text)
		}
	}
	if strings.Index(text, "Pending") > strings.Index(text, "TaintNotTolerated") {
		t.Errorf("problems must come before the nodes it is not meant for:\n%s", text)
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		DaemonSet map[string]string `json:"daemonset"`
		Desired   int               `json:"desired"`
		Running   int               `json:"running"`
		Nodes     []map[string]any  `json:"nodes"`
		Rollout   map[string]any    `json:"rollout"`
		OK        *bool             `json:"ok"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.DaemonSet["namespace"] != "ns" || back.DaemonSet["name"] != "agent" || back.Desired != 11 || back.Running != 10 || len(back.Nodes) != 13 || back.OK == nil || *back.OK {
		t.Errorf("JSON: %s", js)
	}
	for _, key := range []string{"name", "shouldRun", "runs", "reason", "nodeReady"} {
		if _, ok := back.Nodes[0][key]; !ok {
			t.Errorf("JSON node lacks %q: %v", key, back.Nodes[0])
		}
	}
	for _, key := range []string{"strategy", "maxUnavailable", "maxSurge", "desired", "updated", "available", "left", "complete"} {
		if _, ok := back.Rollout[key]; !ok {
			t.Errorf("JSON rollout lacks %q: %v", key, back.Rollout)
		}
	}
}

// TestRollout: the budget scaled as the controller does, what is left, and
// the line that says so.
func TestRollout(t *testing.T) {
	var ns []*corev1.Node
	var pods []*corev1.Pod
	for i := range 10 {
		name := string(rune('a' + i))
		ns = append(ns, node(name, nil))
		if i < 4 {
			pods = append(pods, pod("p-"+name, name))
		} else {
			pods = append(pods, pod("p-"+name, name, old))
		}
	}
	ns = append(ns, notReady(node("down", nil)))
	ds := daemonSet(func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromString("25%"))}
		ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 10, UpdatedNumberScheduled: 4, NumberAvailable: 10, NumberReady: 10}
	})
	r := Explain(input(ds, ns, pods...))
	ro := r.Rollout
	// 25% of the 10 nodes the controller wants a pod on now (not the
	// NotReady one), rounded up: 3.
	if ro.MaxUnavailable != 3 || ro.MaxSurge != 0 || ro.Left != 7 || ro.Complete {
		t.Errorf("rollout %+v; want maxUnavailable 3, left 7 (6 old + the NotReady node)", ro)
	}
	if got, want := ro.line(), "rollout: RollingUpdate (maxUnavailable 3, maxSurge 0): 4 updated, 10 available of 10 desired; 7 nodes left, 3 at a time\n"; got != want {
		t.Errorf("line %q\nwant %q", got, want)
	}

	stale := daemonSet(func(ds *appsv1.DaemonSet) { ds.Status.ObservedGeneration = 1 })
	r = Explain(input(stale, []*corev1.Node{node("w", nil)}, pod("p", "w")))
	if r.Rollout.Complete || len(r.Rollout.Blocked) == 0 || !strings.Contains(r.Rollout.Blocked[0], "has not acted on generation 2") {
		t.Errorf("a generation the controller has not observed: %+v", r.Rollout)
	}

	onDelete := daemonSet(func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	})
	r = Explain(input(onDelete, []*corev1.Node{node("w", nil)}, pod("p", "w", old)))
	if !r.OK || r.Rollout.Left != 1 || len(r.Rollout.Blocked) != 1 || !strings.Contains(r.Rollout.Blocked[0], "OnDelete") {
		t.Errorf("OnDelete with an old pod: ok %v %+v", r.OK, r.Rollout)
	}
	if want := "kubectl -n ns get pods -l app=agent -L controller-revision-hash -o wide"; r.Next != want {
		t.Errorf("next %q, want %q", r.Next, want)
	}

	nowhere := daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = map[string]string{"disktype": "nvme"} })
	r = Explain(input(nowhere, []*corev1.Node{node("a", nil), node("b", nil)}))
	if want := "runs nowhere: it is meant for none of the 2 nodes; not meant for 2: 2 NodeSelectorMismatch (nodeSelector disktype=nvme)"; r.Summary != want || !r.OK {
		t.Errorf("summary %q (ok %v), want %q", r.Summary, r.OK, want)
	}
}

// TestPortNodes: only nodes where a pod waits for a port held by a pod
// that is not the DaemonSet's own need a lookup.
func TestPortNodes(t *testing.T) {
	msg := "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
	pods := []*corev1.Pod{
		pod("a-new", "a", hostPort(9100), unbound(msg)),
		pod("b-old", "b", hostPort(9100), old),
		pod("b-new", "b", hostPort(9100), unbound(msg)),
		pod("c", "c", unbound("0/1 nodes are available: 1 Insufficient cpu.")),
	}
	if got := PortNodes(pods); !slices.Equal(got, []string{"a"}) {
		t.Errorf("PortNodes = %v, want [a]", got)
	}
}

func TestSchedulerReasons(t *testing.T) {
	tests := map[string][]string{
		"0/20 nodes are available: 1 Insufficient cpu, 19 node(s) didn't satisfy plugin(s) [NodeAffinity]. preemption: 0/20 nodes are available: 20 Preemption is not helpful for scheduling.": {"Insufficient cpu"},
		"0/20 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 18 node(s) didn't match Pod's node affinity/selector.":                                                           {"Insufficient cpu", "Insufficient memory"},
		"0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 2 node(s) didn't satisfy plugin(s) [NodeAffinity].":                                            {"didn't have free ports for the requested pod ports"},
		"0/1 nodes are available: 1 Too many pods.":                                   {"Too many pods"},
		"0/5 nodes are available: 5 node(s) didn't satisfy plugin(s) [NodeAffinity].": nil,
		"": nil,
	}
	for msg, want := range tests {
		if got := schedulerReasons(msg); !slices.Equal(got, want) {
			t.Errorf("schedulerReasons(%q) = %q, want %q", msg, got, want)
		}
	}
}

func TestFailureCause(t *testing.T) {
	tests := map[string]string{
		`Error creating: pods "agent-x" is forbidden: error looking up service account ns/fluentbit: serviceaccount "fluentbit" not found`:                                                                                                   `serviceaccount "fluentbit" not found`,
		`Error creating: pods "agent-" is forbidden: no PriorityClass with name node-agents-typo was found`:                                                                                                                                  `no PriorityClass with name node-agents-typo was found`,
		`(combined from similar events): Error creating: pods "a-1" is forbidden: exceeded quota: q, requested: limits.memory=512Mi,requests.cpu=200m, used: limits.memory=0,requests.cpu=70m, limited: limits.memory=1Gi,requests.cpu=100m`: `exceeded quota q: requested limits.memory=512Mi,requests.cpu=200m, limited limits.memory=1Gi,requests.cpu=100m`,
		`Error creating: pods "vapd2-fg8sr" is forbidden: ValidatingAdmissionPolicy 'no-agents' with binding 'no-agents' denied request: agents are not allowed here`:                                                                        `ValidatingAdmissionPolicy 'no-agents' with binding 'no-agents' denied request: agents are not allowed here`,
		`Error creating: Internal error occurred: failed calling webhook "x": context deadline exceeded`:                                                                                                                                     `Internal error occurred: failed calling webhook "x": context deadline exceeded`,
	}
	for msg, want := range tests {
		if got := failureCause(msg); got != want {
			t.Errorf("failureCause(%q)\n= %q\nwant %q", msg, got, want)
		}
	}
}

// The FailedCreate event chosen is the newest, whatever the order listed.
func TestLatestFailedCreate(t *testing.T) {
	events := []corev1.Event{
		failedCreateEvent(`Error creating: pods "a" is forbidden: no PriorityClass with name x was found`, 4, now),
		failedCreateEvent(`Error creating: pods "b" is forbidden: error looking up service account ns/sa: serviceaccount "sa" not found`, 2, now.Add(-time.Hour)),
	}
	f := latestFailedCreate(events, "ns", "")
	if f == nil || f.cause != "no PriorityClass with name x was found" || f.count != 4 || !f.last.Equal(now) {
		t.Errorf("latest: %+v", f)
	}
	if latestFailedCreate(nil, "ns", "") != nil {
		t.Error("no events, no failure")
	}
}
