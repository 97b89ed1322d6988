package mutators

import (
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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

// Name implements Mutator.
func (*Resources) Name() string { return ResourcesName }

// Mutate implements Mutator.
func (m *Resources) Mutate(ds *appsv1.DaemonSet) Result {
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

// fill fills r, the resources of the list's container at index. The field
// path is built only when something is filled: most containers of an admitted
// DaemonSet already set their resources.
func (m *Resources) fill(r *corev1.ResourceRequirements, list string, index int, res *Result) {
	var at string
	changed := func(field string, name corev1.ResourceName) {
		if at == "" {
			at = "spec.template.spec." + list + "[" + strconv.Itoa(index) + "].resources"
		}
		res.Changed = append(res.Changed, at+"."+field+"."+string(name))
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
				changed("requests", name)
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
				changed("limits", name)
			}
		}
	}
}
