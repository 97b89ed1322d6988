package nodes

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
)

// PoolLabels are the node labels that name a node pool, most specific first:
// the first one a node has groups it in Fit results. A fresh slice each call.
func PoolLabels() []string {
	return []string{
		"node.kubernetes.io/pool",
		"karpenter.sh/nodepool",
		"cloud.google.com/gke-nodepool",
		"eks.amazonaws.com/nodegroup",
		"kubernetes.azure.com/agentpool",
		"agentpool",
		"node.kubernetes.io/instance-type",
	}
}

// PodRequests is what one daemon pod asks the scheduler for: the template's
// requests as the NodeResourcesFit plugin computes them (component-helpers'
// resource.PodRequests with pod-level resources on, as in Kubernetes 1.37:
// containers summed, the largest init container, restartable init containers
// (sidecars) added, pod overhead added; pod-level requests win for cpu and
// memory).
func PodRequests(ds *appsv1.DaemonSet) corev1.ResourceList {
	pod := &corev1.Pod{ObjectMeta: *ds.Spec.Template.ObjectMeta.DeepCopy(), Spec: ds.Spec.Template.Spec}
	return resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
}

// Shortfall is one resource a node's allocatable cannot give one daemon pod.
type Shortfall struct {
	Resource corev1.ResourceName
	// Requested is the pod's request.
	Requested resource.Quantity
	// Allocatable is the smallest allocatable of that resource in the group.
	Allocatable resource.Quantity
}

// TooSmall is a group of nodes, within one pool, whose allocatable is below
// the pod's requests for the same resources: the daemon pods there stay
// Pending forever ("Insufficient cpu"), even on an empty node.
type TooSmall struct {
	// PoolLabel and Pool name the pool (label and value); both empty for
	// nodes without any of the PoolLabels.
	PoolLabel, Pool string
	Nodes           []string
	Short           []Shortfall
}

// String says e.g. "4 nodes in pool node.kubernetes.io/pool=small cannot fit
// the pod: requests cpu 4 (allocatable 2), memory 8Gi (allocatable 4Gi)".
func (t TooSmall) String() string {
	where := plural(len(t.Nodes), "node", "nodes")
	if t.PoolLabel != "" {
		where += fmt.Sprintf(" in pool %s=%s", t.PoolLabel, t.Pool)
	}
	parts := make([]string, len(t.Short))
	for i, s := range t.Short {
		parts[i] = fmt.Sprintf("%s %s (allocatable %s)", s.Resource, s.Requested.String(), s.Allocatable.String())
	}
	return fmt.Sprintf("%s cannot fit the pod: requests %s", where, strings.Join(parts, ", "))
}

// FitResult says where one daemon pod fits by resources.
type FitResult struct {
	// Requests is the pod's effective requests (PodRequests).
	Requests corev1.ResourceList
	// Fits is the number of nodes whose allocatable can hold the pod.
	Fits int
	// TooSmall groups the others by pool and missing resources, largest first.
	TooSmall []TooSmall
}

// NodesTooSmall returns the names of all nodes in TooSmall.
func (f FitResult) NodesTooSmall() []string {
	var out []string
	for _, t := range f.TooSmall {
		out = append(out, t.Nodes...)
	}
	return out
}

// Fit checks one daemon pod's requests against each node's allocatable, as
// the scheduler's NodeResourcesFit filter does on an empty node: the pod
// count, then every resource the pod requests a non-zero amount of (a
// resource the node does not list counts as zero allocatable). Pass the
// covered nodes (CoverageResult.Covered): daemon pods are only wanted there.
// It ignores the pods already on the nodes, so it names only the nodes where
// the pod can never fit.
func Fit(ds *appsv1.DaemonSet, nodes []*corev1.Node) FitResult {
	reqs := PodRequests(ds)
	names := make([]corev1.ResourceName, 0, len(reqs))
	for name, q := range reqs {
		if !q.IsZero() {
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool { return resourceOrder(names[i]) < resourceOrder(names[j]) })
	pools := PoolLabels()
	res := FitResult{Requests: reqs}
	groups := map[string]int{}
	for _, node := range nodes {
		alloc := node.Status.Allocatable
		var short []Shortfall
		if pods, ok := alloc[corev1.ResourcePods]; !ok || pods.Value() < 1 {
			short = append(short, Shortfall{Resource: corev1.ResourcePods, Requested: *resource.NewQuantity(1, resource.DecimalSI), Allocatable: pods})
		}
		for _, name := range names {
			want, have := reqs[name], alloc[name]
			if want.Cmp(have) > 0 {
				short = append(short, Shortfall{Resource: name, Requested: want, Allocatable: have})
			}
		}
		if len(short) == 0 {
			res.Fits++
			continue
		}
		label, pool := poolOf(node, pools)
		key := label + "=" + pool
		for _, s := range short {
			key += "/" + string(s.Resource)
		}
		i, seen := groups[key]
		if !seen {
			i = len(res.TooSmall)
			groups[key] = i
			res.TooSmall = append(res.TooSmall, TooSmall{PoolLabel: label, Pool: pool, Short: short})
		} else {
			for k, s := range short {
				if s.Allocatable.Cmp(res.TooSmall[i].Short[k].Allocatable) < 0 {
					res.TooSmall[i].Short[k].Allocatable = s.Allocatable
				}
			}
		}
		res.TooSmall[i].Nodes = append(res.TooSmall[i].Nodes, node.Name)
	}
	sort.SliceStable(res.TooSmall, func(i, j int) bool { return len(res.TooSmall[i].Nodes) > len(res.TooSmall[j].Nodes) })
	return res
}

func poolOf(node *corev1.Node, pools []string) (label, value string) {
	for _, l := range pools {
		if v, ok := node.Labels[l]; ok {
			return l, v
		}
	}
	return "", ""
}

// resourceOrder sorts cpu, memory and ephemeral-storage first, then the rest
// by name.
func resourceOrder(n corev1.ResourceName) string {
	switch n {
	case corev1.ResourceCPU:
		return "0"
	case corev1.ResourceMemory:
		return "1"
	case corev1.ResourceEphemeralStorage:
		return "2"
	}
	return "3" + string(n)
}
