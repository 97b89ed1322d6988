// Package live reads what explain needs about one DaemonSet from an API
// server: the DaemonSet, then one paged listing each of the nodes, its pods
// (by its selector, kept when it controls them), the events about it and its
// ControllerRevisions, run concurrently; then, only where a daemon pod waits
// for a host port held by some other pod, the pods on those nodes (a bounded
// number of requests). It never lists per node otherwise, so the number of
// requests does not grow with the cluster except by pages.
package live

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/daemonguard/daemonguard/internal/explain"
	"github.com/daemonguard/daemonguard/internal/kube"
)

// Options tune Read.
type Options struct {
	// PageSize is the limit of each list request; 0 means 500.
	PageSize int64
	// PortLookups bounds the nodes whose pods are listed to find who holds
	// a host port; 0 means 10.
	PortLookups int
	// Now stamps the input; zero means time.Now().
	Now time.Time
}

// NotFoundError is returned when the DaemonSet does not exist.
type NotFoundError struct{ Namespace, Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("daemonset %s/%s not found", e.Namespace, e.Name)
}

// Read gathers explain's input for the DaemonSet namespace/name.
func Read(ctx context.Context, cs *kube.Clientset, namespace, name string, opts Options) (explain.Input, error) {
	if opts.PageSize <= 0 {
		opts.PageSize = 500
	}
	if opts.PortLookups <= 0 {
		opts.PortLookups = 10
	}
	in := explain.Input{Now: opts.Now}
	ds, err := cs.DaemonSets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return in, &NotFoundError{Namespace: namespace, Name: name}
	}
	if err != nil {
		return in, fmt.Errorf("reading daemonset %s/%s: %w", namespace, name, err)
	}
	in.DaemonSet = ds
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return in, fmt.Errorf("daemonset %s/%s: its selector: %w", namespace, name, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		in.Nodes, err = pages(gctx, "nodes", opts.PageSize, metav1.ListOptions{}, func(o metav1.ListOptions) ([]corev1.Node, string, error) {
			l, err := cs.Nodes().List(gctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		})
		return err
	})
	g.Go(func() error {
		pods, err := pages(gctx, "pods", opts.PageSize, metav1.ListOptions{LabelSelector: selector.String()}, func(o metav1.ListOptions) ([]corev1.Pod, string, error) {
			l, err := cs.Pods(namespace).List(gctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		})
		in.Pods = controlledBy(pods, ds.UID)
		return err
	})
	g.Go(func() error {
		fs := fields.Set{"involvedObject.kind": "DaemonSet", "involvedObject.name": name, "involvedObject.uid": string(ds.UID)}.AsSelector().String()
		events, err := pages(gctx, "events", opts.PageSize, metav1.ListOptions{FieldSelector: fs}, func(o metav1.ListOptions) ([]corev1.Event, string, error) {
			l, err := cs.CoreEvents(namespace).List(gctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		})
		for _, e := range events {
			in.Events = append(in.Events, *e)
		}
		return err
	})
	g.Go(func() error {
		revs, err := pages(gctx, "controllerrevisions", opts.PageSize, metav1.ListOptions{LabelSelector: selector.String()}, func(o metav1.ListOptions) ([]appsv1.ControllerRevision, string, error) {
			l, err := cs.ControllerRevisions(namespace).List(gctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		})
		in.Revisions = controlledBy(revs, ds.UID)
		return err
	})
	if err := g.Wait(); err != nil {
		return in, err
	}
	ports := explain.PortNodes(in.Pods)
	for i, node := range ports {
		if i == opts.PortLookups {
			break
		}
		fs := fields.OneTermEqualSelector("spec.nodeName", node).String()
		pods, err := pages(ctx, "pods on node "+node, opts.PageSize, metav1.ListOptions{FieldSelector: fs}, func(o metav1.ListOptions) ([]corev1.Pod, string, error) {
			l, err := cs.Pods("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		})
		if err != nil {
			return in, err
		}
		if in.NodePods == nil {
			in.NodePods = map[string][]*corev1.Pod{}
		}
		in.NodePods[node] = pods
	}
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	return in, nil
}

// pages lists every page of one resource, naming it in errors.
func pages[T any](ctx context.Context, what string, size int64, opts metav1.ListOptions, list func(metav1.ListOptions) ([]T, string, error)) ([]*T, error) {
	opts.Limit = size
	var out []*T
	for {
		items, next, err := list(opts)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", what, err)
		}
		for i := range items {
			out = append(out, &items[i])
		}
		if next == "" {
			return out, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		opts.Continue = next
	}
}

// controlledBy keeps the objects whose controller reference is uid: the
// selector may match pods or revisions of other owners.
func controlledBy[T any, P interface {
	*T
	metav1.Object
}](objs []*T, uid types.UID) []*T {
	var out []*T
	for _, o := range objs {
		if ref := metav1.GetControllerOf(P(o)); ref != nil && ref.UID == uid {
			out = append(out, o)
		}
	}
	return out
}

// Counter counts the requests a client makes.
type Counter struct{ n atomic.Int64 }

// Requests returns the count so far.
func (c *Counter) Requests() int64 { return c.n.Load() }

// Count makes cfg's clients count their requests in the returned Counter.
// cfg is modified.
func Count(cfg *rest.Config) *Counter {
	c := &Counter{}
	prev := cfg.WrapTransport
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if prev != nil {
			rt = prev(rt)
		}
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			c.n.Add(1)
			return rt.RoundTrip(r)
		})
	}
	return c
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// IsNotFound reports whether err says the DaemonSet does not exist.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}
