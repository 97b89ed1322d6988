package nodes

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestHostPortSurge(t *testing.T) {
	rolling := func(surge *intstr.IntOrString) func(*appsv1.DaemonSet) {
		return func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{
				Type:          appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: surge, MaxUnavailable: ptr.To(intstr.FromInt32(0))},
			}
		}
	}
	hostPort := func(s *corev1.PodSpec) {
		s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 9100, HostPort: 9100}}
	}
	containerPort := func(s *corev1.PodSpec) {
		s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolUDP}}
	}
	tests := map[string]struct {
		spec func(*corev1.PodSpec)
		ds   func(*appsv1.DaemonSet)
		want string
	}{
		"hostPort with maxSurge 1": {
			spec: hostPort, ds: rolling(ptr.To(intstr.FromInt32(1))),
			want: "rollingUpdate.maxSurge 1 with host port 9100/TCP (spec.template.spec.containers[0].ports[1]): the surge pod can never be scheduled next to the old one, so the rollout stalls",
		},
		"hostPort with maxSurge 10%": {
			spec: hostPort, ds: rolling(ptr.To(intstr.FromString("10%"))),
			want: "rollingUpdate.maxSurge 10% with host port 9100/TCP (spec.template.spec.containers[0].ports[1]): the surge pod can never be scheduled next to the old one, so the rollout stalls",
		},
		"hostNetwork container port with surge": {
			spec: func(s *corev1.PodSpec) { containerPort(s); s.HostNetwork = true },
			ds:   rolling(ptr.To(intstr.FromInt32(1))),
			want: "rollingUpdate.maxSurge 1 with host port 8080/UDP (spec.template.spec.containers[0].ports[0]): the surge pod can never be scheduled next to the old one, so the rollout stalls",
		},
		"sidecar hostPort counts": {
			spec: func(s *corev1.PodSpec) {
				s.InitContainers = []corev1.Container{{Name: "side", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Ports: []corev1.ContainerPort{{ContainerPort: 1, HostPort: 7000}}}}
			},
			ds:   rolling(ptr.To(intstr.FromInt32(1))),
			want: "rollingUpdate.maxSurge 1 with host port 7000/TCP (spec.template.spec.initContainers[0].ports[0]): the surge pod can never be scheduled next to the old one, so the rollout stalls",
		},
		"run-to-completion init container hostPort does not": {
			spec: func(s *corev1.PodSpec) {
				s.InitContainers = []corev1.Container{{Name: "init", Ports: []corev1.ContainerPort{{ContainerPort: 1, HostPort: 7000}}}}
			},
			ds: rolling(ptr.To(intstr.FromInt32(1))),
		},
		"maxSurge 0":             {spec: hostPort, ds: rolling(ptr.To(intstr.FromInt32(0)))},
		"maxSurge 0%":            {spec: hostPort, ds: rolling(ptr.To(intstr.FromString("0%")))},
		"no maxSurge":            {spec: hostPort, ds: rolling(nil)},
		"surge without hostPort": {spec: containerPort, ds: rolling(ptr.To(intstr.FromInt32(1)))},
		"OnDelete": {
			spec: hostPort,
			ds: func(ds *appsv1.DaemonSet) {
				rolling(ptr.To(intstr.FromInt32(1)))(ds)
				ds.Spec.UpdateStrategy.Type = appsv1.OnDeleteDaemonSetStrategyType
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ds := daemonSet(tc.spec)
			tc.ds(ds)
			got := HostPortSurge(ds)
			switch {
			case tc.want == "" && got != nil:
				t.Errorf("HostPortSurge = %s, want nil", got)
			case tc.want != "" && got == nil:
				t.Errorf("HostPortSurge = nil, want %s", tc.want)
			case got != nil && got.String() != tc.want:
				t.Errorf("HostPortSurge =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
