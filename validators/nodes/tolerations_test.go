package nodes

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestDaemonPodTolerations(t *testing.T) {
	controller := ControllerTolerations(false)
	notReady300 := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}
	notReadyEqual := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpEqual, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}
	anyNoExecute := corev1.Toleration{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](60)}
	cp := corev1.Toleration{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	tests := map[string]struct {
		spec     corev1.PodSpec
		want     []corev1.Toleration
		replaced []int
	}{
		"none: the controller's six": {
			want: controller,
		},
		"hostNetwork adds network-unavailable": {
			spec: corev1.PodSpec{HostNetwork: true},
			want: ControllerTolerations(true),
		},
		"own tolerations kept first": {
			spec: corev1.PodSpec{Tolerations: []corev1.Toleration{cp}},
			want: append([]corev1.Toleration{cp}, controller...),
		},
		"Exists not-ready NoExecute with seconds is replaced in place": {
			spec:     corev1.PodSpec{Tolerations: []corev1.Toleration{cp, notReady300}},
			want:     append([]corev1.Toleration{cp, controller[0]}, controller[1:]...),
			replaced: []int{1},
		},
		"Equal not-ready keeps its seconds, controller's appended": {
			spec: corev1.PodSpec{Tolerations: []corev1.Toleration{notReadyEqual}},
			want: append([]corev1.Toleration{notReadyEqual}, controller...),
		},
		"empty-key Exists NoExecute keeps its seconds": {
			spec: corev1.PodSpec{Tolerations: []corev1.Toleration{anyNoExecute}},
			want: append([]corev1.Toleration{anyNoExecute}, controller...),
		},
		"identical toleration left alone": {
			spec: corev1.PodSpec{Tolerations: []corev1.Toleration{controller[1]}},
			want: append([]corev1.Toleration{controller[1], controller[0]}, controller[2:]...),
		},
		"an identical duplicate stops the replacement": {
			spec: corev1.PodSpec{Tolerations: []corev1.Toleration{notReady300, controller[0]}},
			want: append([]corev1.Toleration{notReady300, controller[0]}, controller[1:]...),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := tc.spec.DeepCopy()
			if got := DaemonPodTolerations(&tc.spec); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DaemonPodTolerations =\n%+v\nwant\n%+v", got, tc.want)
			}
			if got := ReplacedTolerations(&tc.spec); !reflect.DeepEqual(got, tc.replaced) {
				t.Errorf("ReplacedTolerations = %v, want %v", got, tc.replaced)
			}
			if !reflect.DeepEqual(before, &tc.spec) {
				t.Error("the spec was modified")
			}
		})
	}
}

func TestControllerTolerationsFresh(t *testing.T) {
	a := ControllerTolerations(false)
	a[0].Key = "changed"
	if ControllerTolerations(false)[0].Key != corev1.TaintNodeNotReady {
		t.Fatal("ControllerTolerations shares its slice")
	}
}
