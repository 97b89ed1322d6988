package nodes

import (
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// FuzzDaemonPodTolerations: whatever the template says, every controller
// toleration ends up on the pod exactly, the template's other tolerations are
// kept in order, and merging again changes nothing (the controller merges on
// every pod it creates from an already merged template hash).
func FuzzDaemonPodTolerations(f *testing.F) {
	f.Add(uint8(0), uint8(0), uint8(1), int64(300), false, uint8(2), uint8(1), uint8(0), int64(-1))
	f.Add(uint8(1), uint8(1), uint8(1), int64(300), true, uint8(5), uint8(0), uint8(2), int64(60))
	f.Add(uint8(6), uint8(0), uint8(1), int64(-1), true, uint8(0), uint8(0), uint8(1), int64(-1))
	keys := []string{
		corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, corev1.TaintNodeDiskPressure, corev1.TaintNodeMemoryPressure,
		corev1.TaintNodePIDPressure, corev1.TaintNodeUnschedulable, corev1.TaintNodeNetworkUnavailable, "", "dedicated",
	}
	ops := []corev1.TolerationOperator{corev1.TolerationOpExists, corev1.TolerationOpEqual, ""}
	effects := []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute, corev1.TaintEffectPreferNoSchedule, ""}
	tol := func(k, o, e uint8, secs int64) corev1.Toleration {
		t := corev1.Toleration{Key: keys[int(k)%len(keys)], Operator: ops[int(o)%len(ops)], Effect: effects[int(e)%len(effects)]}
		if secs >= 0 {
			t.TolerationSeconds = &secs
		}
		return t
	}
	f.Fuzz(func(t *testing.T, k1, o1, e1 uint8, s1 int64, hostNetwork bool, k2, o2, e2 uint8, s2 int64) {
		spec := &corev1.PodSpec{HostNetwork: hostNetwork, Tolerations: []corev1.Toleration{tol(k1, o1, e1, s1), tol(k2, o2, e2, s2)}}
		got := DaemonPodTolerations(spec)
		for _, c := range ControllerTolerations(hostNetwork) {
			if !slices.ContainsFunc(got, func(x corev1.Toleration) bool { return equality.Semantic.DeepEqual(x, c) }) {
				t.Fatalf("controller toleration %v missing from %v", c, got)
			}
		}
		if len(got) > len(spec.Tolerations)+len(ControllerTolerations(hostNetwork)) {
			t.Fatalf("%d tolerations from %d", len(got), len(spec.Tolerations))
		}
		replaced := ReplacedTolerations(spec)
		for i, own := range spec.Tolerations {
			if !slices.Contains(replaced, i) && !slices.ContainsFunc(got, func(x corev1.Toleration) bool { return equality.Semantic.DeepEqual(x, own) }) {
				t.Fatalf("template toleration %d %v neither kept nor reported replaced: %v", i, own, got)
			}
		}
		again := DaemonPodTolerations(&corev1.PodSpec{HostNetwork: hostNetwork, Tolerations: got})
		if !reflect.DeepEqual(again, got) {
			t.Fatalf("merging twice changed %v into %v", got, again)
		}
	})
}
