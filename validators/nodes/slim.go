package nodes

import (
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
func Slim(n *corev1.Node) {
	*n = corev1.Node{
		TypeMeta: n.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion,
			CreationTimestamp: n.CreationTimestamp, DeletionTimestamp: n.DeletionTimestamp,
			Labels: n.Labels,
		},
		Spec:   corev1.NodeSpec{Taints: n.Spec.Taints, Unschedulable: n.Spec.Unschedulable},
		Status: corev1.NodeStatus{Allocatable: n.Status.Allocatable},
	}
}
