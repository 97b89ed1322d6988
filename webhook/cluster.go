package webhook

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/mutators"
	"github.com/daemonguard/daemonguard/validators"
)

// What the webhook reads of the cluster, from the manager's cache.

// nodeLister lists the Nodes in the informer cache, without copying them:
// the node-aware rules only read, and a copy per node per admission would
// cost more than the checks at a thousand nodes.
func nodeLister(r client.Reader) validators.NodeLister {
	return func(ctx context.Context) ([]*corev1.Node, error) {
		var list corev1.NodeList
		if err := r.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		out := make([]*corev1.Node, len(list.Items))
		for i := range list.Items {
			out[i] = &list.Items[i]
		}
		return out, nil
	}
}

// slimNode keeps in the cache only what the node-aware rules read: the
// images a node holds and the managed fields are most of a Node's size.
func slimNode(obj any) (any, error) {
	if n, ok := obj.(*corev1.Node); ok {
		n.ManagedFields = nil
		n.Status.Images = nil
		n.Annotations = nil
	}
	return obj, nil
}

// classLookup asks the informer cache whether a PriorityClass exists.
func classLookup(r client.Reader) mutators.ClassLookup {
	return func(ctx context.Context, name string) (bool, error) {
		var pc schedulingv1.PriorityClass
		err := r.Get(ctx, client.ObjectKey{Name: name}, &pc)
		switch {
		case err == nil:
			return true, nil
		case apierrors.IsNotFound(err):
			return false, nil
		}
		return false, err
	}
}
