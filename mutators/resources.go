package mutators

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/mutators/patch"
)

// LimitRule sizes an injected limit of one resource: the larger of Minimum
// and Multiplier times the container's request for that resource. A limit is
// an OOM-kill (or throttling) line, not a reservation, so it follows the
// container's own request instead of one figure for every agent.
type LimitRule struct {
	Minimum resource.Quantity
	// Multiplier is at least 2 (the config refuses less): a limit at the
	// request leaves no headroom for a burst.
	Multiplier int64
}

// size is the limit for a container whose request is request (nil: none).
func (l *LimitRule) size(request *resource.Quantity) resource.Quantity {
	q := l.Minimum.DeepCopy()
	if request != nil {
		scaled := request.DeepCopy()
		scaled.Mul(l.Multiplier)
		if scaled.Cmp(q) > 0 {
			q = scaled
		}
	}
	return q
}

// Resources fills missing requests and limits in every container and init
// container. Requests are the configured figures, filled only where the
// container has neither a request nor a limit for the resource (the API
// server makes a lone limit the pod's request); limits are sized from the
// container's own request (see LimitRule),
// so a request is never above a limit this mutator chose and a limit is never
// pinned to the request. Pods at one of the skipped priority classes (the
// system-critical ones by default: CNIs, CSI node plugins, kube-proxy) are
// left alone: an OOM kill there takes the node's networking or storage down.
type Resources struct {
	requests corev1.ResourceList
	limits   map[corev1.ResourceName]LimitRule
	skip     []string
	// names are the configured resource names, sorted, so the order of
	// reported changes does not depend on map iteration.
	names []corev1.ResourceName
}

// NewResources returns a mutator filling requests and sizing limits, except
// in pods whose priorityClassName is in skip.
func NewResources(requests corev1.ResourceList, limits map[corev1.ResourceName]LimitRule, skip []string) *Resources {
	seen := map[corev1.ResourceName]bool{}
	var names []corev1.ResourceName
	add := func(n corev1.ResourceName) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for n := range requests {
		add(n)
	}
	for n := range limits {
		add(n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return &Resources{requests: requests, limits: limits, skip: skip, names: names}
}

func defineResources() Definition {
	return Definition{
		Meta: Meta{
			Name:    ResourcesName,
			Summary: "fills missing requests, and limits sized from each container's own request, of every container and init container",
			Writes: []string{
				"spec.template.spec.containers[*].resources", "spec.template.spec.initContainers[*].resources",
			},
		},
		New: func(o Options) Mutator { return NewResources(o.Requests, o.Limits, o.SkipPriorityClasses) },
		Precondition: func(o Options) precondition.Cond {
			return NewResources(o.Requests, o.Limits, o.SkipPriorityClasses).unfilled()
		},
	}
}

// unfilled: the pod is not at a skipped class, and sets pod-level resources
// (a warning) or has a container or init container without one of the
// configured requests or limits.
func (m *Resources) unfilled() precondition.Cond {
	q := precondition.Quote
	var missing []string
	for _, name := range m.names {
		if _, ok := m.requests[name]; ok {
			// A limit alone is the pod's request (see fill).
			missing = append(missing, `!(`+precondition.Has("c", "resources", "requests")+` && `+q(string(name))+` in c.resources.requests) && !(`+
				precondition.Has("c", "resources", "limits")+` && `+q(string(name))+` in c.resources.limits)`)
		}
		if _, ok := m.limits[name]; ok {
			missing = append(missing, `!(`+precondition.Has("c", "resources", "limits")+` && `+q(string(name))+` in c.resources.limits)`)
		}
	}
	// Mutate warns about pod-level resources whatever it is configured to
	// fill, even nothing (`requests: {}` with both limits off).
	acts := precondition.Atom("pod-level `resources`", `has(`+precondition.Spec+`.resources)`)
	if len(missing) > 0 {
		lacks := strings.Join(missing, " || ")
		acts = precondition.Or(acts,
			precondition.Atom("a container or init container without one of the configured requests or limits", `(`+precondition.AnyIn(precondition.Spec, "containers", "c", lacks)+`) || (`+
				precondition.AnyIn(precondition.Spec, "initContainers", "c", lacks)+`)`))
	}
	var skip []string
	for _, s := range m.skip {
		if s != "" { // Mutate never skips a pod that names no class
			skip = append(skip, q(s))
		}
	}
	if len(skip) == 0 {
		return acts
	}
	notSkipped := precondition.Atom("no `priorityClassName` in skipPriorityClasses", `!(`+precondition.Has(precondition.Spec, "priorityClassName")+` && `+
		precondition.Spec+`.priorityClassName in [`+strings.Join(skip, ", ")+`])`)
	return precondition.And(notSkipped, acts)
}

// Mutate implements Mutator.
func (m *Resources) Mutate(_ context.Context, ds *appsv1.DaemonSet) Result {
	spec := &ds.Spec.Template.Spec
	if spec.PriorityClassName != "" && slices.Contains(m.skip, spec.PriorityClassName) {
		return Result{}
	}
	if spec.Resources != nil {
		// Pod-level resources budget the containers together; per-container
		// defaults could exceed that budget and make the template invalid.
		return Result{Warnings: []string{"container resources were not set: spec.template.spec.resources sets pod-level resources"}}
	}
	var res Result
	for i := range spec.InitContainers {
		m.fill(&spec.InitContainers[i], "initContainers", i, &res)
	}
	for i := range spec.Containers {
		m.fill(&spec.Containers[i], "containers", i, &res)
	}
	return res
}

// fill fills the resources of c, the list's container at index. Paths are
// built only when something is filled: most containers of an admitted
// DaemonSet already set their resources. Each resource is its own operation;
// patch.Anchor merges those into one when the list (or resources) is absent.
func (m *Resources) fill(c *corev1.Container, list string, index int, res *Result) {
	r := &c.Resources
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
			_, set := r.Requests[name]
			// A limit without a request is no gap: the API server sets the
			// pod's request to the limit (SetDefaults_Pod, k8s.io/kubernetes
			// pkg/apis/core/v1/defaults.go: "If limits are specified, but
			// requests are not, default requests to limits"). It does so on
			// the Pod, not on the template this mutator sees, so a default
			// filled in here would replace the limit as the reservation,
			// lower it, and change the pod's QoS class.
			_, limited := r.Limits[name]
			if !set && !limited {
				q := def.DeepCopy()
				if r.Requests == nil {
					r.Requests = corev1.ResourceList{}
				}
				r.Requests[name] = q
				add("requests", name, q.DeepCopy())
			}
		}
		if rule, ok := m.limits[name]; ok {
			if _, set := r.Limits[name]; !set {
				var request *resource.Quantity
				if q, ok := r.Requests[name]; ok {
					request = &q
				}
				q := rule.size(request)
				if r.Limits == nil {
					r.Limits = corev1.ResourceList{}
				}
				r.Limits[name] = q
				add("limits", name, q.DeepCopy())
				res.Notes = append(res.Notes, limitNote(list, c.Name, name, q, &rule, request))
			}
		}
	}
}

// limitNote tells the client which limit was injected where, and how to
// choose another: a limit decides when an agent is killed or throttled, so
// it is never set silently.
func limitNote(list, container string, name corev1.ResourceName, q resource.Quantity, rule *LimitRule, request *resource.Quantity) string {
	kind := "container"
	if list == "initContainers" {
		kind = "init container"
	}
	why := fmt.Sprintf("the minimum %s", rule.Minimum.String())
	if request != nil {
		why = fmt.Sprintf("the larger of %s and %d× its request %s", rule.Minimum.String(), rule.Multiplier, request.String())
	}
	return fmt.Sprintf("resources: %s %q gets limits.%s: %s (%s); set resources.limits.%s to choose your own",
		kind, container, name, q.String(), why, name)
}
