package nodes

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
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
