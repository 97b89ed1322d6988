package webhook

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/mutators"
	"github.com/daemonguard/daemonguard/validators"
	"github.com/daemonguard/daemonguard/validators/nodes"
)

// What the webhook reads of the cluster, from the manager's cache.

// nodeLister lists the Nodes in the informer cache, without copying them:
// the node-aware rules only read, and a copy per node per admission would
// cost more than the checks at a thousand nodes. The informer's own store
// hands out its pointers; a cache.Reader's List, even with
// UnsafeDisableDeepCopy, copies every Node struct into its list (3.9 MB per
// admission at 5,000 nodes), so it is only the fallback.
func nodeLister(inf cache.Informer, r client.Reader) (validators.NodeLister, error) {
	if s, ok := inf.(interface{ GetStore() toolscache.Store }); ok {
		snap := &nodeSnapshot{store: s.GetStore()}
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
	}, nil
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

// clusterReads are the informers the policy reads the cluster through.
type clusterReads struct {
	reader    client.Reader
	classes   cache.Informer
	nodes     cache.Informer        // nil without node checks
	listNodes validators.NodeLister // nil without node checks
}

// watchCluster starts the informers of what the policy reads.
func watchCluster(ctx context.Context, mgr manager.Manager, opts Options) (*clusterReads, error) {
	r := &clusterReads{reader: mgr.GetCache()}
	var err error
	if r.classes, err = mgr.GetCache().GetInformer(ctx, &schedulingv1.PriorityClass{}); err != nil {
		return nil, fmt.Errorf("watching PriorityClasses: %w", err)
	}
	if opts.NodeChecks {
		if r.nodes, err = mgr.GetCache().GetInformer(ctx, &corev1.Node{}); err != nil {
			return nil, fmt.Errorf("watching Nodes: %w", err)
		}
		if r.listNodes, err = nodeLister(r.nodes, r.reader); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *clusterReads) policyOptions(namespace string) policy.Options {
	o := policy.Options{OwnNamespace: namespace, ClassExists: classLookup(r.reader)}
	o.Nodes = r.listNodes
	return o
}
