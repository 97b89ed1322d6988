package nodes

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
)

// TestShouldRun: both of the controller's answers. A node excluded by a
// NoSchedule taint alone keeps a daemon pod already there; a NoExecute taint,
// a selector or a nodeName removes it.
func TestShouldRun(t *testing.T) {
	gpuExecute := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoExecute}
	tests := map[string]struct {
		ds        func(*corev1.PodSpec)
		node      *corev1.Node
		run, keep bool
		kind      ReasonKind
	}{
		"plain worker":            {node: node("w", nil), run: true, keep: true},
		"untolerated NoSchedule":  {node: node("g", nil, gpuTaint), keep: true, kind: ReasonTaint},
		"untolerated NoExecute":   {node: node("g", nil, gpuExecute), kind: ReasonTaint},
		"cordoned":                {node: node("c", nil, unschedulable), run: true, keep: true},
		"not ready, NoSchedule":   {node: node("n", nil, notReadyTaint), keep: true, kind: ReasonTaint},
		"not ready, NoExecute":    {node: node("n", nil, notReadyExecute), run: true, keep: true},
		"network unavailable":     {node: node("n", nil, netUnavailable), keep: true, kind: ReasonTaint},
		"network, hostNetwork":    {ds: func(s *corev1.PodSpec) { s.HostNetwork = true }, node: node("n", nil, netUnavailable), run: true, keep: true},
		"selector mismatch":       {ds: func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"a": "b"} }, node: node("w", nil), kind: ReasonNodeAffinity},
		"nodeName elsewhere":      {ds: func(s *corev1.PodSpec) { s.NodeName = "other" }, node: node("w", nil), kind: ReasonNodeName},
		"tolerated, then evicted": {ds: tolerate(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}), node: node("g", nil, gpuTaint, gpuExecute), kind: ReasonTaint},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var muts []func(*corev1.PodSpec)
			if tc.ds != nil {
				muts = append(muts, tc.ds)
			}
			run, keep, reason := NewEvaluator(daemonSet(muts...)).ShouldRun(tc.node)
			if run != tc.run || keep != tc.keep || reason.Kind != tc.kind {
				t.Errorf("ShouldRun = %v, %v, %q; want %v, %v, %q", run, keep, reason.Kind, tc.run, tc.keep, tc.kind)
			}
		})
	}
}

// untoleratedTaint finds what the controller's helper finds.
func TestUntoleratedTaintIsTheHelpers(t *testing.T) {
	taints := [][]corev1.Taint{nil, {controlPlaneTaint}, {preferNoSchedule, gpuTaint}, {notReadyTaint, notReadyExecute, unschedulable}, {netUnavailable, preferNoSchedule, controlPlaneTaint}}
	tolerations := [][]corev1.Toleration{nil, {{Operator: corev1.TolerationOpExists}},
		{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu"}},
		{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}},
		ControllerTolerations(false)}
	for _, ts := range taints {
		for _, tol := range tolerations {
			for name, filter := range map[string]func(*corev1.Taint) bool{"NoSchedule or NoExecute": noScheduleOrNoExecute, "NoExecute": noExecute} {
				gotTaint, got := untoleratedTaint(ts, tol, filter)
				wantTaint, want := v1helper.FindMatchingUntoleratedTaint(klog.Background(), ts, tol, filter, comparisonOperators)
				if got != want || gotTaint != wantTaint {
					t.Errorf("%s, taints %v, tolerations %v: got %v %v, the helper %v %v", name, ts, tol, gotTaint, got, wantTaint, want)
				}
			}
		}
	}
}
