package nodes

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// comparisonOperators mirrors the TaintTolerationComparisonOperators feature
// gate the controller passes to the toleration helpers: alpha and off by
// default in Kubernetes 1.37.
const comparisonOperators = false

// ReasonKind says which of the controller's predicates left a node out.
type ReasonKind string

const (
	// ReasonNodeName: the pod template pins spec.nodeName to another node.
	ReasonNodeName ReasonKind = "NodeName"
	// ReasonNodeAffinity: the node does not match the template's nodeSelector
	// or required node affinity.
	ReasonNodeAffinity ReasonKind = "NodeAffinity"
	// ReasonTaint: the node has a NoSchedule or NoExecute taint that the
	// daemon pod's tolerations (template plus controller defaults) do not
	// tolerate.
	ReasonTaint ReasonKind = "Taint"
)

// Reason is why the DaemonSet controller does not want a daemon pod on a node.
// Reasons are comparable; nodes left out for equal reasons are grouped.
type Reason struct {
	Kind ReasonKind
	// Taint is the first untolerated taint, as the controller finds it
	// (Kind == ReasonTaint). Its TimeAdded is always nil.
	Taint corev1.Taint
	// NodeName is the template's spec.nodeName (Kind == ReasonNodeName).
	NodeName string
}

// Uncovered is a group of nodes left out for one Reason.
type Uncovered struct {
	Reason Reason
	Nodes  []string
}

// String says what the group means for the DaemonSet, e.g. "3 nodes tainted
// node-role.kubernetes.io/control-plane:NoSchedule are not tolerated".
func (u Uncovered) String() string {
	n := plural(len(u.Nodes), "node", "nodes")
	switch u.Reason.Kind {
	case ReasonTaint:
		t := u.Reason.Taint
		verb := "are"
		if len(u.Nodes) == 1 {
			verb = "is"
		}
		return fmt.Sprintf("%s tainted %s %s not tolerated", n, t.ToString(), verb)
	case ReasonNodeName:
		return fmt.Sprintf("%s excluded: spec.template.spec.nodeName is %q", n, u.Reason.NodeName)
	default:
		verb := "do"
		if len(u.Nodes) == 1 {
			verb = "does"
		}
		return fmt.Sprintf("%s %s not match the nodeSelector/required node affinity", n, verb)
	}
}

// CoverageResult is where the DaemonSet controller wants the DaemonSet's pods.
type CoverageResult struct {
	// Total is the number of nodes considered.
	Total int
	// Covered are the nodes that get a daemon pod, in input order.
	Covered []*corev1.Node
	// Uncovered groups the other nodes by reason, largest group first.
	Uncovered []Uncovered
}

// CoveredNames returns the names of the covered nodes, in input order.
func (c CoverageResult) CoveredNames() []string {
	out := make([]string, len(c.Covered))
	for i, n := range c.Covered {
		out[i] = n.Name
	}
	return out
}

// MatchesNoNode reports whether there are nodes but the template's
// nodeSelector / required node affinity (or nodeName) excludes all of them:
// the DaemonSet is accepted and silently runs nowhere.
func (c CoverageResult) MatchesNoNode() bool {
	if c.Total == 0 || len(c.Covered) > 0 {
		return false
	}
	for _, u := range c.Uncovered {
		if u.Reason.Kind == ReasonTaint {
			return false
		}
	}
	return true
}

// String summarises the result, e.g. "covers 17 of 20 nodes; 3 nodes tainted
// node-role.kubernetes.io/control-plane:NoSchedule are not tolerated".
func (c CoverageResult) String() string { return c.summary("covers") }

func (c CoverageResult) summary(verb string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d of %s", verb, len(c.Covered), plural(c.Total, "node", "nodes"))
	for _, u := range c.Uncovered {
		b.WriteString("; ")
		b.WriteString(u.String())
	}
	return b.String()
}

// Coverage evaluates the DaemonSet controller's NodeShouldRunDaemonPod for
// every node: the template's nodeName, then its nodeSelector and required
// node affinity (nodeaffinity.RequiredNodeAffinity, parse errors ignored like
// the controller does), then NoSchedule/NoExecute taints against
// DaemonPodTolerations. The per-DaemonSet parts are built once, so the cost
// is one affinity match and one taint scan per node.
//
// Coverage is about the controller's wish: a covered node whose resources or
// host ports cannot take the pod still gets one, Pending (see Fit and
// HostPortSurge). Nodes being created are tainted not-ready:NoSchedule until
// their kubelet reports Ready, and are uncovered until then, as in the
// controller.
func Coverage(ds *appsv1.DaemonSet, nodes []*corev1.Node) CoverageResult {
	ev := NewEvaluator(ds)
	res := CoverageResult{Total: len(nodes), Covered: make([]*corev1.Node, 0, len(nodes))}
	var groups map[Reason]int // reason -> index in res.Uncovered
	for _, node := range nodes {
		ok, _, reason := ev.ShouldRun(node)
		if ok {
			res.Covered = append(res.Covered, node)
			continue
		}
		i, seen := groups[reason]
		if !seen {
			if groups == nil {
				groups = map[Reason]int{}
			}
			i = len(res.Uncovered)
			groups[reason] = i
			res.Uncovered = append(res.Uncovered, Uncovered{Reason: reason})
		}
		res.Uncovered[i].Nodes = append(res.Uncovered[i].Nodes, node.Name)
	}
	sort.SliceStable(res.Uncovered, func(i, j int) bool {
		return len(res.Uncovered[i].Nodes) > len(res.Uncovered[j].Nodes)
	})
	return res
}

// Evaluator is the DaemonSet controller's nodeShouldRunDaemonPod for one
// DaemonSet, with what depends only on the DaemonSet (the daemon pod's
// tolerations, the parsed nodeSelector and required node affinity) built
// once, as the controller does, so that judging a node costs one affinity
// match and one taint scan. It is safe for concurrent use.
type Evaluator struct {
	nodeName    string
	tolerations []corev1.Toleration
	affinity    nodeaffinity.RequiredNodeAffinity
}

// NewEvaluator builds the Evaluator of ds's pod template.
func NewEvaluator(ds *appsv1.DaemonSet) *Evaluator {
	spec := &ds.Spec.Template.Spec
	return &Evaluator{
		nodeName:    spec.NodeName,
		tolerations: DaemonPodTolerations(spec),
		affinity:    nodeaffinity.NewRequiredNodeAffinity(spec.NodeSelector, spec.Affinity),
	}
}

// ShouldRun is nodeShouldRunDaemonPod (k8s.io/kubernetes v1.37.2
// pkg/controller/daemon/daemon_controller.go) with the reason: shouldRun says
// the controller wants a daemon pod on node (it creates one there and counts
// the node in desiredNumberScheduled); shouldContinueRunning says a daemon
// pod already there may stay (false: the controller deletes it). A node
// excluded only by an untolerated NoSchedule taint keeps its pod, since only
// NoExecute taints evict. reason is zero when shouldRun is true.
func (e *Evaluator) ShouldRun(node *corev1.Node) (shouldRun, shouldContinueRunning bool, reason Reason) {
	if e.nodeName != "" && e.nodeName != node.Name {
		return false, false, Reason{Kind: ReasonNodeName, NodeName: e.nodeName}
	}
	// Ignore parsing errors for backwards compatibility, as the controller does.
	if ok, _ := e.affinity.Match(node); !ok {
		return false, false, Reason{Kind: ReasonNodeAffinity}
	}
	taint, untolerated := untoleratedTaint(node.Spec.Taints, e.tolerations, noScheduleOrNoExecute)
	if untolerated {
		_, evicted := untoleratedTaint(node.Spec.Taints, e.tolerations, noExecute)
		return false, !evicted, Reason{Kind: ReasonTaint, Taint: corev1.Taint{Key: taint.Key, Value: taint.Value, Effect: taint.Effect}}
	}
	return true, true, Reason{}
}

// untoleratedTaint is v1helper.FindMatchingUntoleratedTaint, which the
// controller calls, without the copy of the matching taints it makes for
// every node: the first taint that filter keeps and no toleration tolerates.
func untoleratedTaint(taints []corev1.Taint, tolerations []corev1.Toleration, filter func(*corev1.Taint) bool) (corev1.Taint, bool) {
	for i := range taints {
		if filter(&taints[i]) && !v1helper.TolerationsTolerateTaint(klog.Background(), tolerations, &taints[i], comparisonOperators) {
			return taints[i], true
		}
	}
	return corev1.Taint{}, false
}

func noScheduleOrNoExecute(t *corev1.Taint) bool {
	return t.Effect == corev1.TaintEffectNoExecute || t.Effect == corev1.TaintEffectNoSchedule
}

func noExecute(t *corev1.Taint) bool { return t.Effect == corev1.TaintEffectNoExecute }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
