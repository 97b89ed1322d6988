package nodes

import (
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Slim keeps of a Node only what the checks read: its name, labels and
// taints (where the DaemonSet controller wants a daemon pod) and its
// allocatable resources (whether the pod fits there), with the identity the
// cache keeps it by. The rest (images, conditions, addresses, node info,
// capacity, annotations, managed fields) is most of a Node's size, and the
// webhook's node cache and scan keep every Node of the cluster. A keep-list:
// a field a new Kubernetes adds is dropped until a check needs it.
//
// The strings kept repeat from Node to Node (every label key, most values:
// zones, pools, architectures; taint keys; resource names), so they are
// interned: less memory, and fewer cache lines to read for every node a
// DaemonSet is judged against. unique keeps a canonical copy only while a
// handle to it lives and Slim keeps none, so nothing accumulates as nodes
// come and go; the price is a fresh copy after each garbage collection, a
// handful over the 5,000 nodes of a full list.
func Slim(n *corev1.Node) {
	*n = corev1.Node{
		TypeMeta: n.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion,
			CreationTimestamp: n.CreationTimestamp, DeletionTimestamp: n.DeletionTimestamp,
			Labels: internLabels(n.Labels),
		},
		Spec:   corev1.NodeSpec{Taints: internTaints(n.Spec.Taints), Unschedulable: n.Spec.Unschedulable},
		Status: corev1.NodeStatus{Allocatable: internResources(n.Status.Allocatable)},
	}
}

func intern[S ~string](s S) S { return S(unique.Make(string(s)).Value()) }

func internLabels(in map[string]string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[intern(k)] = intern(v)
	}
	return out
}

func internTaints(taints []corev1.Taint) []corev1.Taint {
	for i := range taints {
		t := &taints[i]
		t.Key, t.Value, t.Effect = intern(t.Key), intern(t.Value), intern(t.Effect)
	}
	return taints
}

func internResources(in corev1.ResourceList) corev1.ResourceList {
	if in == nil {
		return nil
	}
	out := make(corev1.ResourceList, len(in))
	for name, q := range in {
		out[intern(name)] = q
	}
	return out
}
