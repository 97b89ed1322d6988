package nodes

import corev1 "k8s.io/api/core/v1"

// Slim drops from a Node what no check reads: the images it holds, its
// managed fields and annotations are most of a Node's size, and the webhook's
// node cache and scan keep every Node of the cluster.
func Slim(n *corev1.Node) {
	n.ManagedFields = nil
	n.Status.Images = nil
	n.Annotations = nil
}
