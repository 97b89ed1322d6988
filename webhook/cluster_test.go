package webhook

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	fcache "k8s.io/client-go/tools/cache/testing"
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
	lister, err := nodeLister(inf)
	if err != nil {
		t.Fatal(err)
	}
	list, err := lister(t.Context())
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

// While the nodes stay the same, every list is the same slice (what the
// node-aware rules' memo keys on); an added, changed or deleted Node makes
// the next list a new slice that has it.
func TestNodeListerSnapshot(t *testing.T) {
	source := fcache.NewFakeControllerSource()
	for _, name := range []string{"a", "b", "c"} {
		source.Add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
	}
	inf := toolscache.NewSharedIndexInformer(source, &corev1.Node{}, 0, toolscache.Indexers{})
	lister, err := nodeLister(inf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go inf.RunWithContext(ctx)
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	// until lists until the list satisfies ok, for at most ten seconds.
	until := func(what string, ok func([]*corev1.Node) bool) []*corev1.Node {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			list, err := lister(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ok(list) {
				return list
			}
		}
		t.Fatalf("the list never %s", what)
		return nil
	}
	names := func(list []*corev1.Node) []string {
		var out []string
		for _, n := range list {
			out = append(out, n.Name+"/"+n.Labels["v"])
		}
		slices.Sort(out)
		return out
	}
	first := until("held the three nodes", func(l []*corev1.Node) bool { return slices.Equal(names(l), []string{"a/", "b/", "c/"}) })
	if again, _ := lister(ctx); &again[0] != &first[0] {
		t.Error("a second list without a change is a new slice")
	}
	steps := []struct {
		what   string
		change func()
		want   []string
	}{
		{"had the added node", func() { source.Add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "d"}}) }, []string{"a/", "b/", "c/", "d/"}},
		{"had the changed node", func() {
			source.Modify(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"v": "2"}}})
		}, []string{"a/2", "b/", "c/", "d/"}},
		{"lost the deleted node", func() { source.Delete(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "b"}}) }, []string{"a/2", "c/", "d/"}},
	}
	prev := first
	for _, s := range steps {
		s.change()
		got := until(s.what, func(l []*corev1.Node) bool { return slices.Equal(names(l), s.want) })
		if &got[0] == &prev[0] {
			t.Errorf("the list that %s is the old slice", s.what)
		}
		prev = got
	}
}
