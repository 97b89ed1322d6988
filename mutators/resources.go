package mutators

import (
	"context"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/daemonguard/daemonguard/mutators/patch"
)

// Resources fills missing requests and limits in every container and init
// container, and never leaves a request above its limit: a default request is
// lowered to an existing limit, a default limit raised to an existing request.
type Resources struct {
	requests, limits corev1.ResourceList
	// names are the configured resource names, sorted, so the order of
	// reported changes does not depend on map iteration.
	names []corev1.ResourceName
}

// NewResources returns a mutator filling requests and limits.
func NewResources(requests, limits corev1.ResourceList) *Resources {
	seen := map[corev1.ResourceName]bool{}
	var names []corev1.ResourceName
	for _, l := range []corev1.ResourceList{requests, limits} {
		for n := range l {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return &Resources{requests: requests, limits: limits, names: names}
}

func defineResources() Definition {
	return Definition{
		Meta: Meta{
			Name:    ResourcesName,
			Summary: "fills missing requests and limits of every container and init container",
			Writes: []string{
				"spec.template.spec.containers[*].resources", "spec.template.spec.initContainers[*].resources",
			},
		},
		New: func(o Options) Mutator { return NewResources(o.Requests, o.Limits) },
	}
}

// Mutate implements Mutator.
func (m *Resources) Mutate(_ context.Context, ds *appsv1.DaemonSet) Result {
	spec := &ds.Spec.Template.Spec
	if spec.Resources != nil {
		// Pod-level resources budget the containers together; per-container
		// defaults could exceed that budget and make the template invalid.
		return Result{Warnings: []string{"container resources were not set: spec.template.spec.resources sets pod-level resources"}}
	}
	var res Result
	for i := range spec.InitContainers {
		m.fill(&spec.InitContainers[i].Resources, "initContainers", i, &res)
	}
	for i := range spec.Containers {
		m.fill(&spec.Containers[i].Resources, "containers", i, &res)
	}
	return res
}

// fill fills r, the resources of the list's container at index. Paths are
// built only when something is filled: most containers of an admitted
// DaemonSet already set their resources. Each resource is its own operation;
// patch.Anchor merges those into one when the list (or resources) is absent.
func (m *Resources) fill(r *corev1.ResourceRequirements, list string, index int, res *Result) {
	var at patch.Path
	built := false
	add := func(field string, name corev1.ResourceName, q resource.Quantity) {
		if !built {
			at, built = podSpec().Child(list).Index(index).Child("resources"), true
		}
		res.Patch = append(res.Patch, patch.Add(at.Child(field, string(name)), q))
	}
	for _, name := range m.names {
		if def, ok := m.requests[name]; ok {
			if _, set := r.Requests[name]; !set {
				q := def.DeepCopy()
				if limit, ok := r.Limits[name]; ok && q.Cmp(limit) > 0 {
					q = limit.DeepCopy()
				}
				if r.Requests == nil {
					r.Requests = corev1.ResourceList{}
				}
				r.Requests[name] = q
				add("requests", name, q.DeepCopy())
			}
		}
		if def, ok := m.limits[name]; ok {
			if _, set := r.Limits[name]; !set {
				q := def.DeepCopy()
				if request, ok := r.Requests[name]; ok && request.Cmp(q) > 0 {
					q = request.DeepCopy()
				}
				if r.Limits == nil {
					r.Limits = corev1.ResourceList{}
				}
				r.Limits[name] = q
				add("limits", name, q.DeepCopy())
			}
		}
	}
}
