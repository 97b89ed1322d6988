package kube

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// Client is a typed client of one kind and its list, namespaced or not,
// with the methods (and the requests) of client-go's generated clients.
// client-go's own generic client (gentype) cannot be used: its package
// also holds the fakes, which link every API group's apply configurations
// and, through them, the Clientset's scheme.
type Client[T Object, L runtime.Object] struct {
	resource  string
	rest      rest.Interface
	namespace string // "" for a cluster-scoped kind, or every namespace
	newObject func() T
	newList   func() L
}

// Object is a kind's pointer type, as the clients take and return it.
type Object interface {
	runtime.Object
	metav1.Object
}

func (c *Client[T, L]) request(r *rest.Request) *rest.Request {
	return r.NamespaceIfScoped(c.namespace, c.namespace != "").Resource(c.resource)
}

// Get returns the object named name.
func (c *Client[T, L]) Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error) {
	out := c.newObject()
	err := c.request(c.rest.Get()).Name(name).VersionedParams(&opts, ParameterCodec).Do(ctx).Into(out)
	return out, err
}

// List returns the objects the options select.
func (c *Client[T, L]) List(ctx context.Context, opts metav1.ListOptions) (L, error) {
	out := c.newList()
	err := c.request(c.rest.Get()).VersionedParams(&opts, ParameterCodec).Timeout(timeout(opts)).Do(ctx).Into(out)
	return out, err
}

// Watch watches the objects the options select.
func (c *Client[T, L]) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return c.request(c.rest.Get()).VersionedParams(&opts, ParameterCodec).Timeout(timeout(opts)).Watch(ctx)
}

// Create creates obj and returns it as stored.
func (c *Client[T, L]) Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error) {
	out := c.newObject()
	err := c.request(c.rest.Post()).VersionedParams(&opts, ParameterCodec).Body(obj).Do(ctx).Into(out)
	return out, err
}

// Update replaces obj (its resourceVersion, when set, must be current).
func (c *Client[T, L]) Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error) {
	out := c.newObject()
	err := c.request(c.rest.Put()).Name(obj.GetName()).VersionedParams(&opts, ParameterCodec).Body(obj).Do(ctx).Into(out)
	return out, err
}

// Delete deletes the object named name.
func (c *Client[T, L]) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return c.request(c.rest.Delete()).Name(name).Body(&opts).Do(ctx).Error()
}

// Patch patches the object named name (or one of its subresources).
func (c *Client[T, L]) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error) {
	out := c.newObject()
	err := c.request(c.rest.Patch(pt)).Name(name).SubResource(subresources...).VersionedParams(&opts, ParameterCodec).Body(data).Do(ctx).Into(out)
	return out, err
}

// Reviews are created and answered at once, never stored: TokenReviews and
// SubjectAccessReviews.
type Reviews[T runtime.Object] struct {
	resource  string
	rest      rest.Interface
	newObject func() T
}

// Create asks the API server to review obj and returns its answer.
func (c *Reviews[T]) Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error) {
	out := c.newObject()
	err := c.rest.Post().Resource(c.resource).VersionedParams(&opts, ParameterCodec).Body(obj).Do(ctx).Into(out)
	return out, err
}

func timeout(opts metav1.ListOptions) time.Duration {
	if opts.TimeoutSeconds != nil {
		return time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	return 0
}
