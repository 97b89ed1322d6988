package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Discovery answers from the API server's discovery documents
// (/api/v1, /apis/GROUP/VERSION), one request per group version, cached
// once found: what client-go's discovery client and RESTMapper answer,
// without the OpenAPI and protobuf they bring.
type Discovery struct {
	cs *Clientset
	mu sync.Mutex
	// found holds the resources of group versions the API server served.
	found map[schema.GroupVersion]*metav1.APIResourceList
}

// NewDiscovery returns a Discovery through cs's HTTP client.
func NewDiscovery(cs *Clientset) *Discovery {
	return &Discovery{cs: cs, found: map[schema.GroupVersion]*metav1.APIResourceList{}}
}

// Resources lists the resources the API server serves in gv; a group
// version it does not serve is a NotFound error (apierrors.IsNotFound).
// Found lists are cached; a failure is asked again next time.
func (d *Discovery) Resources(ctx context.Context, gv schema.GroupVersion) (*metav1.APIResourceList, error) {
	d.mu.Lock()
	l, ok := d.found[gv]
	d.mu.Unlock()
	if ok {
		return l, nil
	}
	path := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		path = "/api/" + gv.Version
	}
	body, err := d.cs.core.Get().AbsPath(path).Do(ctx).Raw()
	if err != nil {
		return nil, err
	}
	l = &metav1.APIResourceList{}
	if err := json.Unmarshal(body, l); err != nil {
		return nil, fmt.Errorf("discovery of %s: %w", gv, err)
	}
	d.mu.Lock()
	d.found[gv] = l
	d.mu.Unlock()
	return l, nil
}

// Namespaced reports whether the kind gvk is namespaced, as the API
// server serves it.
func (d *Discovery) Namespaced(ctx context.Context, gvk schema.GroupVersionKind) (bool, error) {
	l, err := d.Resources(ctx, gvk.GroupVersion())
	if err != nil {
		return false, err
	}
	for _, r := range l.APIResources {
		// Subresources (pods/status) share their parent's kind.
		if r.Kind == gvk.Kind && !strings.Contains(r.Name, "/") {
			return r.Namespaced, nil
		}
	}
	return false, fmt.Errorf("the API server serves no kind %s in %s", gvk.Kind, gvk.GroupVersion())
}
