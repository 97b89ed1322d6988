package sim

import (
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PoolLabel names a fake node's pool; nodes.PoolLabels() knows it.
const PoolLabel = "node.kubernetes.io/pool"

// KwokAnnotation marks the nodes kwok manages (its
// --manage-nodes-with-annotation-selector); nothing else selects on it.
const KwokAnnotation = "kwok.x-k8s.io/node"

// Shape is one kind of fake node: a pool with its allocatable resources,
// labels and taints.
type Shape struct {
	// Pool is the PoolLabel value and the node name prefix.
	Pool string
	// Fixed is how many nodes of this shape a cluster gets regardless of
	// size; otherwise Weight shares the rest.
	Fixed, Weight int
	// Allocatable (and capacity) of each node, including extended resources.
	Allocatable map[corev1.ResourceName]string
	Labels      map[string]string
	Taints      []corev1.Taint
}

// Shapes is the declared table of node shapes of the simulated cluster: three
// control-plane nodes, then a GPU pool (tainted, for its own workloads), a
// pool of small nodes and a pool of large ones sharing the rest 1:4:5. A fresh
// table each call.
func Shapes() []Shape {
	return []Shape{
		{
			Pool: "control-plane", Fixed: 3,
			Allocatable: map[corev1.ResourceName]string{corev1.ResourceCPU: "4", corev1.ResourceMemory: "16Gi", corev1.ResourcePods: "110"},
			Labels:      map[string]string{"node-role.kubernetes.io/control-plane": ""},
			Taints:      []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}},
		},
		{
			Pool: "gpu", Weight: 1,
			Allocatable: map[corev1.ResourceName]string{corev1.ResourceCPU: "8", corev1.ResourceMemory: "32Gi", corev1.ResourcePods: "110", "nvidia.com/gpu": "1"},
			Labels:      map[string]string{"hardware/gpu": "true"},
			Taints:      []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}},
		},
		{
			Pool: "small", Weight: 4,
			Allocatable: map[corev1.ResourceName]string{corev1.ResourceCPU: "2", corev1.ResourceMemory: "4Gi", corev1.ResourcePods: "110"},
		},
		{
			Pool: "large", Weight: 5,
			Allocatable: map[corev1.ResourceName]string{corev1.ResourceCPU: "16", corev1.ResourceMemory: "64Gi", corev1.ResourcePods: "110"},
		},
	}
}

// Counts says how many nodes of each shape a cluster of n nodes gets: the
// fixed ones first (fewer if n is smaller), then the weights, rounded, with
// the last weighted shape taking the remainder.
func Counts(shapes []Shape, n int) []int {
	out := make([]int, len(shapes))
	left, weights := n, 0
	for i, s := range shapes {
		if s.Fixed > 0 {
			out[i] = min(s.Fixed, left)
			left -= out[i]
		}
		weights += s.Weight
	}
	rest, last := left, -1
	for i, s := range shapes {
		if s.Weight == 0 {
			continue
		}
		out[i] = min(int(math.Round(float64(rest)*float64(s.Weight)/float64(weights))), left)
		left -= out[i]
		last = i
	}
	if last >= 0 {
		out[last] += left
	}
	return out
}

// Nodes returns n fake nodes of the given shapes (see Counts), named
// <pool>-<index>, annotated for kwok, with allocatable and capacity set.
func Nodes(shapes []Shape, n int) []*corev1.Node {
	var out []*corev1.Node
	for i, count := range Counts(shapes, n) {
		s := shapes[i]
		for j := range count {
			out = append(out, s.node(fmt.Sprintf("%s-%03d", s.Pool, j)))
		}
	}
	return out
}

func (s Shape) node(name string) *corev1.Node {
	labels := map[string]string{
		"kubernetes.io/hostname": name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		"type":                   "kwok",
		PoolLabel:                s.Pool,
	}
	for k, v := range s.Labels {
		labels[k] = v
	}
	res := corev1.ResourceList{}
	for k, v := range s.Allocatable {
		res[k] = resource.MustParse(v)
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: map[string]string{KwokAnnotation: "fake"}},
		Spec:       corev1.NodeSpec{Taints: append([]corev1.Taint(nil), s.Taints...)},
		Status: corev1.NodeStatus{
			Allocatable: res,
			Capacity:    res.DeepCopy(),
			NodeInfo:    corev1.NodeSystemInfo{Architecture: "amd64", OperatingSystem: "linux"},
		},
	}
}
