package nodes

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("4"),
			corev1.ResourceMemory: resource.MustParse("16Gi"),
			corev1.ResourcePods:   resource.MustParse("110"),
		}},
	}
}

func sized(n *corev1.Node, cpu, mem string) *corev1.Node {
	n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse(cpu)
	n.Status.Allocatable[corev1.ResourceMemory] = resource.MustParse(mem)
	return n
}

var (
	controlPlaneTaint = corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}
	gpuTaint          = corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	notReadyTaint     = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}
	notReadyExecute   = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
	unschedulable     = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}
	netUnavailable    = corev1.Taint{Key: corev1.TaintNodeNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule}
	preferNoSchedule  = corev1.Taint{Key: "soft", Effect: corev1.TaintEffectPreferNoSchedule}
)

// cluster is a small mixed cluster: 3 control-plane nodes, 2 GPU nodes,
// 3 workers.
func cluster() []*corev1.Node {
	var out []*corev1.Node
	for i := range 3 {
		out = append(out, node(fmt.Sprintf("cp-%d", i), map[string]string{"node-role.kubernetes.io/control-plane": ""}, controlPlaneTaint))
	}
	for i := range 2 {
		out = append(out, node(fmt.Sprintf("gpu-%d", i), map[string]string{"hardware/gpu": "true", "node.kubernetes.io/pool": "gpu"}, gpuTaint))
	}
	for i := range 3 {
		out = append(out, node(fmt.Sprintf("worker-%d", i), map[string]string{"node.kubernetes.io/pool": "general"}))
	}
	return out
}

func daemonSet(mut ...func(*corev1.PodSpec)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}},
			}},
		},
	}
	for _, m := range mut {
		m(&ds.Spec.Template.Spec)
	}
	return ds
}

func tolerate(t ...corev1.Toleration) func(*corev1.PodSpec) {
	return func(s *corev1.PodSpec) { s.Tolerations = append(s.Tolerations, t...) }
}

func names(nodes []*corev1.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}
