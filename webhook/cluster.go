package webhook

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/daemonguard/daemonguard/internal/kube"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/mutators"
	"github.com/daemonguard/daemonguard/validators"
	"github.com/daemonguard/daemonguard/validators/nodes"
)

// What the webhook reads of the cluster, from its informers.

// nodeLister lists the Nodes in the informer's store, without copying
// them: the node-aware rules only read, and a copy per node per admission
// would cost more than the checks at a thousand nodes.
func nodeLister(inf toolscache.SharedIndexInformer) (validators.NodeLister, error) {
	snap := &nodeSnapshot{store: inf.GetStore()}
	snap.changed.Store(true)
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { snap.changed.Store(true) },
		UpdateFunc: func(any, any) { snap.changed.Store(true) },
		DeleteFunc: func(any) { snap.changed.Store(true) },
	}); err != nil {
		return nil, fmt.Errorf("watching Nodes: %w", err)
	}
	return snap.list, nil
}

// nodeSnapshot is the list of the Nodes in an informer's store, built anew
// only after the informer has seen a change: admissions and the Reporter's
// resync then share one slice while the nodes stay the same, so that none
// of them lists 5,000 nodes again, and the node-aware rules' memo
// (nodes.Memo) holds. The informer updates its store before it calls its
// handlers, so a list built after changed was cleared holds every change
// that set it.
type nodeSnapshot struct {
	store   toolscache.Store
	changed atomic.Bool
	mu      sync.Mutex // one rebuild at a time
	nodes   atomic.Pointer[[]*corev1.Node]
}

func (s *nodeSnapshot) list(context.Context) ([]*corev1.Node, error) {
	if s.changed.Load() {
		s.mu.Lock()
		if s.changed.Swap(false) {
			items := s.store.List()
			out := make([]*corev1.Node, 0, len(items))
			for _, item := range items {
				if n, ok := item.(*corev1.Node); ok {
					out = append(out, n)
				}
			}
			s.nodes.Store(&out)
		}
		s.mu.Unlock()
	}
	if p := s.nodes.Load(); p != nil {
		return *p, nil
	}
	return nil, nil
}

// slimNode is the node cache's transform: nodes.Slim.
func slimNode(obj any) (any, error) {
	if n, ok := obj.(*corev1.Node); ok {
		nodes.Slim(n)
	}
	return obj, nil
}

// classLookup asks the informer's store whether a PriorityClass exists.
func classLookup(store toolscache.Store) mutators.ClassLookup {
	return func(_ context.Context, name string) (bool, error) {
		_, exists, err := store.GetByKey(name)
		return exists, err
	}
}

// clusterReads are the informers the policy reads the cluster through.
type clusterReads struct {
	classes   toolscache.SharedIndexInformer
	nodes     toolscache.SharedIndexInformer // nil without node checks
	listNodes validators.NodeLister          // nil without node checks
}

// watchCluster makes the informers of what the policy reads; parts runs
// them.
func watchCluster(cs *kube.Clientset, opts Options) (*clusterReads, error) {
	r := &clusterReads{classes: kube.NewInformer(cs.PriorityClasses(), &schedulingv1.PriorityClass{}, nil)}
	if opts.NodeChecks {
		r.nodes = kube.NewInformer(cs.Nodes(), &corev1.Node{}, nil)
		if err := r.nodes.SetTransform(slimNode); err != nil {
			return nil, err
		}
		var err error
		if r.listNodes, err = nodeLister(r.nodes); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// parts run the informers.
func (r *clusterReads) parts() []part {
	out := []part{{"PriorityClass informer", informerPart(r.classes)}}
	if r.nodes != nil {
		out = append(out, part{"Node informer", informerPart(r.nodes)})
	}
	return out
}

// synced waits until the informers have synced; false when ctx ended
// first.
func (r *clusterReads) synced(ctx context.Context) bool {
	waits := []toolscache.InformerSynced{r.classes.HasSynced}
	if r.nodes != nil {
		waits = append(waits, r.nodes.HasSynced)
	}
	return toolscache.WaitForCacheSync(ctx.Done(), waits...)
}

func informerPart(inf toolscache.SharedIndexInformer) func(context.Context) error {
	return func(ctx context.Context) error {
		inf.RunWithContext(ctx)
		return nil
	}
}

func (r *clusterReads) policyOptions(namespace string) policy.Options {
	o := policy.Options{OwnNamespace: namespace, ClassExists: classLookup(r.classes.GetStore())}
	o.Nodes = r.listNodes
	return o
}
