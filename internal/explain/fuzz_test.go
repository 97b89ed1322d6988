package explain

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/daemonguard/daemonguard/validators/nodes"
)

// FuzzAgreesWithController: for any node and pod template built from a
// small alphabet of labels, taints, tolerations, selectors and affinity
// terms, explain's verdict is the DaemonSet controller's as validators/nodes
// computes it: a Ready node without pods is excluded exactly when
// nodes.Coverage leaves it out, with the reason kind and the taint it names;
// a selector requirement explain names is one the node really fails; the
// same node NotReady is NodeNotReady exactly when it is otherwise covered;
// with a daemon pod on it, an excluded node is Surplus and explain says the
// pod stays exactly when the controller's shouldContinueRunning says so.
func FuzzAgreesWithController(f *testing.F) {
	f.Add(uint16(0), uint16(0), uint16(0), uint16(0), uint16(0), false)
	f.Add(uint16(0x1f), uint16(0x3), uint16(0x5), uint16(0x12), uint16(0x44), true)
	f.Add(uint16(0xffff), uint16(0xffff), uint16(0xffff), uint16(0xffff), uint16(0xffff), false)
	f.Add(uint16(0x2), uint16(0x10), uint16(0x100), uint16(0x21), uint16(0x3), false)
	keys := []string{"pool", "zone", "gpu"}
	values := []string{"a", "b"}
	taints := []corev1.Taint{
		{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule},
		{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoExecute},
		{Key: "soft", Effect: corev1.TaintEffectPreferNoSchedule},
		{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeDiskPressure, Effect: corev1.TaintEffectNoSchedule},
	}
	tolerations := []corev1.Toleration{
		{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule},
		{Key: "dedicated", Operator: corev1.TolerationOpExists},
		{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists},
	}
	ops := []corev1.NodeSelectorOperator{corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn, corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist}
	f.Fuzz(func(t *testing.T, labelBits, taintBits, tolBits, selBits, affBits uint16, hostNetwork bool) {
		// Node labels: two bits per key: absent, a, b.
		labels := map[string]string{}
		for i, k := range keys {
			if v := int(labelBits>>(2*i)) & 3; v > 0 && v <= len(values) {
				labels[k] = values[v-1]
			}
		}
		var nodeTaints []corev1.Taint
		for i, tt := range taints {
			if taintBits&(1<<i) != 0 {
				nodeTaints = append(nodeTaints, tt)
			}
		}
		spec := corev1.PodSpec{HostNetwork: hostNetwork, Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}}
		for i, tol := range tolerations {
			if tolBits&(1<<i) != 0 {
				spec.Tolerations = append(spec.Tolerations, tol)
			}
		}
		for i, k := range keys {
			if v := int(selBits>>(2*i)) & 3; v > 0 && v <= len(values) {
				if spec.NodeSelector == nil {
					spec.NodeSelector = map[string]string{}
				}
				spec.NodeSelector[k] = values[v-1]
			}
		}
		if selBits&(1<<7) != 0 {
			spec.NodeName = "other"
		}
		// Affinity: up to two terms of one or two requirements, 4 bits each.
		var terms []corev1.NodeSelectorTerm
		for ti := range 2 {
			bits := affBits >> (8 * ti)
			if bits&1 == 0 {
				continue
			}
			var term corev1.NodeSelectorTerm
			for ri := range 2 {
				rb := bits >> (1 + 3*ri)
				if ri == 1 && rb&4 == 0 {
					break
				}
				req := corev1.NodeSelectorRequirement{Key: keys[int(rb)%len(keys)], Operator: ops[int(rb>>1)%len(ops)]}
				if req.Operator == corev1.NodeSelectorOpIn || req.Operator == corev1.NodeSelectorOpNotIn {
					req.Values = []string{values[int(rb>>2)%len(values)]}
				}
				term.MatchExpressions = append(term.MatchExpressions, req)
			}
			terms = append(terms, term)
		}
		if len(terms) > 0 {
			spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
		}
		ds := daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec = spec })
		n := node("w", labels, nodeTaints...)
		n.Labels = labels // no hostname label: selectors see only the fuzzed ones

		cov := nodes.Coverage(ds, []*corev1.Node{n})
		covered := len(cov.Covered) == 1
		got := Explain(input(ds, []*corev1.Node{n})).Nodes[0]
		if got.ShouldRun != covered {
			t.Fatalf("explain shouldRun %v, nodes.Coverage covered %v (%s); %s: %s", got.ShouldRun, covered, cov, got.Reason, got.Detail)
		}
		if covered {
			if got.Reason != NotCreated {
				t.Fatalf("a covered node without pods: %s, want NotCreated", got.Reason)
			}
		} else {
			why := cov.Uncovered[0].Reason
			switch why.Kind {
			case nodes.ReasonTaint:
				if got.Reason != TaintNotTolerated || got.Cause != why.Taint.ToString() {
					t.Fatalf("controller: taint %s; explain: %s (%s)", why.Taint.ToString(), got.Reason, got.Cause)
				}
			case nodes.ReasonNodeName:
				if got.Reason != NodeSelectorMismatch || !strings.HasPrefix(got.Cause, "nodeName ") {
					t.Fatalf("controller: nodeName; explain: %s (%s)", got.Reason, got.Cause)
				}
			case nodes.ReasonNodeAffinity:
				switch got.Reason {
				case NodeSelectorMismatch:
					k, v, _ := strings.Cut(strings.TrimPrefix(got.Cause, "nodeSelector "), "=")
					if spec.NodeSelector[k] != v || labels[k] == v {
						t.Fatalf("explain names %q, which node labels %v satisfy", got.Cause, labels)
					}
				case NodeAffinityMismatch:
					for k, v := range spec.NodeSelector {
						if labels[k] != v {
							t.Fatalf("explain blames the affinity while nodeSelector %s=%s fails first", k, v)
						}
					}
				default:
					t.Fatalf("controller: selector/affinity; explain: %s (%s)", got.Reason, got.Cause)
				}
			}
		}

		down := notReady(node("w", labels, nodeTaints...))
		down.Labels = labels
		gotDown := Explain(input(ds, []*corev1.Node{down})).Nodes[0]
		if gotDown.ShouldRun != covered || (covered && gotDown.Reason != NodeNotReady) || (!covered && gotDown.Reason != got.Reason) {
			t.Fatalf("NotReady node: shouldRun %v %s; Ready one: shouldRun %v %s", gotDown.ShouldRun, gotDown.Reason, covered, got.Reason)
		}

		withPod := Explain(input(ds, []*corev1.Node{n}, pod("p", "w"))).Nodes[0]
		if covered != (withPod.Reason == Running) || !withPod.Runs {
			t.Fatalf("with a ready pod: %s (runs %v), covered %v", withPod.Reason, withPod.Runs, covered)
		}
		if !covered {
			_, keep, _ := nodes.NewEvaluator(ds).ShouldRun(n)
			if withPod.Reason != Surplus || strings.Contains(withPod.Detail, "pod p stays") != keep {
				t.Fatalf("surplus pod: %s %q; controller keeps it: %v", withPod.Reason, withPod.Detail, keep)
			}
		}
	})
}
