package nodes

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestReview(t *testing.T) {
	cp := corev1.Toleration{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	tolerateAll := corev1.Toleration{Operator: corev1.TolerationOpExists}
	small := func() []*corev1.Node {
		return []*corev1.Node{
			sized(node("s0", map[string]string{"node.kubernetes.io/pool": "small"}), "2", "4Gi"),
			node("w0", map[string]string{"node.kubernetes.io/pool": "general"}),
		}
	}
	tests := map[string]struct {
		ds    *appsv1.DaemonSet
		nodes []*corev1.Node
		want  []Finding
	}{
		"runs everywhere": {
			ds: daemonSet(tolerate(tolerateAll)), nodes: cluster(),
		},
		"tainted nodes left out": {
			ds: daemonSet(tolerate(cp)), nodes: cluster(),
			want: []Finding{{CheckCoverage, "spec.template.spec.tolerations", "runs on 6 of 8 nodes; 2 nodes tainted dedicated=gpu:NoSchedule are not tolerated"}},
		},
		"selector matches nothing": {
			ds:    daemonSet(func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"disktype": "ssd"} }),
			nodes: cluster(),
			want:  []Finding{{CheckMatchesNoNode, "spec.template.spec.nodeSelector", "matches none of the 8 nodes: the DaemonSet runs nowhere"}},
		},
		"required affinity matches nothing": {
			ds: daemonSet(func(s *corev1.PodSpec) {
				s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists}}}},
				}}}
			}),
			nodes: cluster(),
			want:  []Finding{{CheckMatchesNoNode, "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution", "matches none of the 8 nodes: the DaemonSet runs nowhere"}},
		},
		"does not fit the small pool": {
			ds:    daemonSet(func(s *corev1.PodSpec) { s.Containers[0].Resources = requests("3", "1Gi") }),
			nodes: small(),
			want: []Finding{{CheckDoesNotFit, "spec.template.spec.containers",
				"1 node in pool node.kubernetes.io/pool=small cannot fit the pod: requests cpu 3 (allocatable 2); its daemon pods there stay Pending"}},
		},
		"hostPort surge without nodes": {
			ds: func() *appsv1.DaemonSet {
				ds := daemonSet(func(s *corev1.PodSpec) {
					s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 9100, HostPort: 9100}}
				})
				ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: ptr.To(intstr.FromInt32(1))}
				return ds
			}(),
			want: []Finding{{CheckHostPortSurge, "spec.updateStrategy.rollingUpdate.maxSurge",
				"rollingUpdate.maxSurge 1 with host port 9100/TCP (spec.template.spec.containers[0].ports[0]): the surge pod can never be scheduled next to the old one, so the rollout stalls"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Review(tc.ds, tc.nodes); !reflect.DeepEqual(got, tc.want) && (len(got) != 0 || len(tc.want) != 0) {
				t.Errorf("Review =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}
