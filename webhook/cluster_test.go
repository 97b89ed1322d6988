package webhook

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

// The node lister hands the rules the informer store's own Nodes: no copy of
// every Node per admission.
func TestNodeListerSharesTheStore(t *testing.T) {
	// controller-runtime's informer cache returns client-go's
	// SharedIndexInformer, as this is.
	inf := toolscache.NewSharedIndexInformer(&toolscache.ListWatch{}, &corev1.Node{}, 0, toolscache.Indexers{})
	stored := map[string]*corev1.Node{}
	for _, name := range []string{"a", "b", "c"} {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		stored[name] = n
		if err := inf.GetStore().Add(n); err != nil {
			t.Fatal(err)
		}
	}
	list, err := nodeLister(inf, nil)(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(stored) {
		t.Fatalf("%d nodes listed, want %d", len(list), len(stored))
	}
	for _, n := range list {
		if stored[n.Name] != n {
			t.Errorf("node %s is a copy, not the store's", n.Name)
		}
	}
}
