package nodes

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// ControllerTolerations are the tolerations the DaemonSet controller adds to
// every daemon pod (util.AddOrUpdateDaemonPodTolerations in
// k8s.io/kubernetes v1.37.2 pkg/controller/daemon/util), in the order it adds
// them: not-ready and unreachable NoExecute without tolerationSeconds (a
// daemon pod is never evicted for them), the node-condition NoSchedule taints,
// and network-unavailable only for hostNetwork pods. A fresh slice each call.
func ControllerTolerations(hostNetwork bool) []corev1.Toleration {
	out := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if hostNetwork {
		out = append(out, corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return out
}

// DaemonPodTolerations returns the tolerations a daemon pod created from spec
// carries: spec's own, with ControllerTolerations merged in exactly as the
// controller does it. spec is not modified.
//
// The merge is v1helper.AddOrUpdateTolerationInPodSpec (k8s.io/kubernetes
// v1.37.2 pkg/apis/core/v1/helper): a template toleration that matches a
// controller toleration in key, operator, value and effect
// (corev1.Toleration.MatchToleration) is replaced by the controller's, so its
// tolerationSeconds is dropped; every other template toleration is kept as
// written, and the controller's is appended when nothing matched. An `Equal`
// not-ready toleration, an omitted operator, or an empty-key `Exists`
// toleration is therefore kept with its seconds, next to the controller's own.
func DaemonPodTolerations(spec *corev1.PodSpec) []corev1.Toleration {
	tolerations := append([]corev1.Toleration(nil), spec.Tolerations...)
	for _, t := range ControllerTolerations(spec.HostNetwork) {
		tolerations = addOrUpdateToleration(tolerations, t)
	}
	return tolerations
}

// ReplacedTolerations returns the indexes of spec's tolerations that the
// controller replaces with its own (and whose tolerationSeconds it therefore
// ignores). A toleration identical to the controller's is not listed, and
// while one is present the controller leaves every match of it alone.
func ReplacedTolerations(spec *corev1.PodSpec) []int {
	var out []int
	for _, c := range ControllerTolerations(spec.HostNetwork) {
		var matched []int
		identical := false
		for i := range spec.Tolerations {
			if c.MatchToleration(&spec.Tolerations[i]) {
				if equality.Semantic.DeepEqual(c, spec.Tolerations[i]) {
					identical = true
					break
				}
				matched = append(matched, i)
			}
		}
		if !identical {
			out = append(out, matched...)
		}
	}
	sort.Ints(out)
	return out
}

// addOrUpdateToleration is AddOrUpdateTolerationInPodSpec over a slice, a
// faithful copy (k8s.io/kubernetes cannot be imported): the first template
// toleration identical to the controller's leaves the whole list unchanged,
// even when an earlier one would have been replaced.
func addOrUpdateToleration(tolerations []corev1.Toleration, toleration corev1.Toleration) []corev1.Toleration {
	var out []corev1.Toleration
	updated := false
	for i := range tolerations {
		if toleration.MatchToleration(&tolerations[i]) {
			if equality.Semantic.DeepEqual(toleration, tolerations[i]) {
				return tolerations
			}
			out = append(out, toleration)
			updated = true
			continue
		}
		out = append(out, tolerations[i])
	}
	if !updated {
		out = append(out, toleration)
	}
	return out
}
