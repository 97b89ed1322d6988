package explain

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/validators/nodes"
)

// Input is what Explain reads: one listing of each, taken by the caller.
type Input struct {
	DaemonSet *appsv1.DaemonSet
	// Nodes are the cluster's nodes.
	Nodes []*corev1.Node
	// Pods are the pods the DaemonSet controls (its controller reference),
	// in any state.
	Pods []*corev1.Pod
	// Events are the events about the DaemonSet (FailedCreate and others).
	Events []corev1.Event
	// Revisions are the DaemonSet's ControllerRevisions.
	Revisions []*appsv1.ControllerRevision
	// NodePods are the pods of any owner on the nodes PortNodes names, by
	// node: who holds a host port a daemon pod waits for.
	NodePods map[string][]*corev1.Pod
	// Now is when the listing was taken (ages of events, availability).
	Now time.Time
}

// Explain judges every node. It lists nothing: all it needs is in in.
func Explain(in Input) *Report {
	ds := in.DaemonSet
	a := analysis{
		in:        in,
		ev:        nodes.NewEvaluator(ds),
		revision:  currentRevision(in.Revisions),
		byNode:    podsByNode(in.Pods),
		failure:   latestFailedCreate(in.Events, ds.Namespace, ds.Annotations[policy.InjectedAnnotation]),
		portOwner: map[string]bool{},
	}
	r := &Report{
		DaemonSet: Ref{Namespace: ds.Namespace, Name: ds.Name},
		NodeCount: len(in.Nodes),
		Reasons:   map[Reason]int{},
		Nodes:     make([]Node, 0, len(in.Nodes)),
	}
	for _, node := range in.Nodes {
		n := a.judge(node)
		r.Nodes = append(r.Nodes, n)
		r.Reasons[n.Reason]++
		if n.ShouldRun {
			r.Desired++
			if n.Runs {
				r.Running++
			}
		}
	}
	r.OK = true
	for _, n := range r.Nodes {
		if n.Reason.Problem() {
			r.OK = false
		}
	}
	r.Rollout = a.rollout(r)
	r.Summary = summary(r)
	r.Next = a.next(r)
	return r
}

// PortNodes names the nodes where a daemon pod waits for a host port that
// none of the DaemonSet's own pods there holds: the caller lists the pods on
// those nodes (Input.NodePods) so that the report can say who holds it.
func PortNodes(pods []*corev1.Pod) []string {
	var out []string
	for node, ps := range podsByNode(pods) {
		for _, p := range ps {
			if waitsForPort(p) && len(portHolders(p, ps)) == 0 {
				out = append(out, node)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// waitsForPort: the scheduler left p unbound because its node has no free
// host port for it.
func waitsForPort(p *corev1.Pod) bool {
	c := unscheduled(p)
	return p.Spec.NodeName == "" && c != nil && strings.Contains(c.Message, "free ports")
}

type analysis struct {
	in       Input
	ev       *nodes.Evaluator
	revision string
	byNode   map[string][]*corev1.Pod
	failure  *failedCreate
	// controllerDesired counts the nodes where the controller itself wants
	// a pod now (a NotReady node not included): what it scales
	// maxUnavailable and maxSurge against.
	controllerDesired int
	// portOwner marks nodes where a daemon pod waits for a host port its
	// own predecessor on the node holds (kubernetes#106417).
	portOwner map[string]bool
	// hints hold the command to run next per node.
	hints map[string]string
}

func (a *analysis) hint(node, cmd string) {
	if cmd == "" {
		return
	}
	if a.hints == nil {
		a.hints = map[string]string{}
	}
	a.hints[node] = cmd
}

// judge is the answer for one node.
func (a *analysis) judge(node *corev1.Node) Node {
	ds := a.in.DaemonSet
	spec := &ds.Spec.Template.Spec
	run, keep, why := a.ev.ShouldRun(node)
	if run {
		a.controllerDesired++
	}
	ready, readiness, since := nodeReadiness(node)
	// A NotReady node is tainted not-ready or unreachable NoSchedule by the
	// node lifecycle controller, which daemon pods do not tolerate; judge
	// without those taints whether the DaemonSet is meant for it.
	meant := run
	if !run && why.Kind == nodes.ReasonTaint && conditionTaint(why.Taint.Key) {
		meant, keep, why = a.ev.ShouldRun(withoutConditionTaints(node))
	}
	all := a.byNode[node.Name]
	var live []*corev1.Pod
	out := Node{Name: node.Name, ShouldRun: meant, NodeReady: ready, Cordoned: node.Spec.Unschedulable}
	for _, p := range all {
		out.Pods = append(out.Pods, Pod{
			Name: p.Name, Phase: phase(p), Scheduled: p.Spec.NodeName != "", Ready: podReady(p),
			Updated: a.updated(p), Terminating: p.DeletionTimestamp != nil,
		})
		if p.DeletionTimestamp == nil {
			live = append(live, p)
			if p.Spec.NodeName != "" && podReady(p) {
				out.Runs = true
			}
		}
	}

	if !meant {
		m := a.exclusion(spec, node, why)
		out.Reason, out.Cause, out.Detail = m.reason, m.cause, m.detail
		if len(live) > 0 {
			out.Reason = Surplus
			if keep {
				out.Detail += fmt.Sprintf("; pod %s stays: the controller only removes a daemon pod for a NoExecute taint or a change of selector, not for a NoSchedule taint added after it was placed", live[0].Name)
			} else {
				out.Detail += fmt.Sprintf("; the controller deletes pod %s", live[0].Name)
			}
			a.hint(node.Name, fmt.Sprintf("kubectl describe node %s", node.Name))
		}
		return out
	}

	if !ready {
		out.Reason, out.Cause = NodeNotReady, readiness
		out.Detail = "node " + readiness
		if since != nil && !since.IsZero() {
			out.Detail += fmt.Sprintf(" since %s (%s)", since.UTC().Format(time.RFC3339), ago(a.in.Now.Sub(since.Time)))
		}
		if !run {
			out.Detail += "; the controller creates no daemon pod on it until it is Ready"
		}
		if len(live) > 0 {
			out.Detail += fmt.Sprintf("; pod %s stays (daemon pods tolerate not-ready and unreachable NoExecute)", live[0].Name)
		}
		a.hint(node.Name, "kubectl describe node "+node.Name)
		return out
	}

	if len(live) == 0 {
		out.Reason = NotCreated
		switch {
		case len(all) > 0:
			out.Cause = "previous pod terminating"
			out.Detail = fmt.Sprintf("pod %s is terminating; the controller creates the next one once it is gone", all[0].Name)
		case a.failure != nil:
			f := a.failure
			out.Cause = f.cause
			out.Detail = fmt.Sprintf("the DaemonSet controller cannot create the pod: %s (FailedCreate, %d times, last %s)", f.cause, f.count, ago(a.in.Now.Sub(f.last)))
			a.hint(node.Name, f.hint)
		default:
			out.Cause = "no pod"
			out.Detail = "no daemon pod and no FailedCreate event: the controller has not created one (yet)"
		}
		if out.Cordoned {
			out.Detail += "; the node is cordoned, which does not keep a daemon pod away"
		}
		if a.hints[node.Name] == "" {
			a.hint(node.Name, fmt.Sprintf("kubectl -n %s get events --field-selector involvedObject.kind=DaemonSet,involvedObject.name=%s", ds.Namespace, ds.Name))
		}
		return out
	}

	keepsRunning := func(p *corev1.Pod) string {
		for _, o := range live {
			if o != p && o.Spec.NodeName != "" && podReady(o) {
				return fmt.Sprintf("; pod %s keeps running", o.Name)
			}
		}
		return ""
	}
	for _, p := range live {
		if p.Spec.NodeName != "" {
			continue
		}
		others := append(append([]*corev1.Pod(nil), live...), a.in.NodePods[node.Name]...)
		out.Reason = Pending
		out.Cause, out.Detail = pendingCause(p, node, others)
		if waitsForPort(p) && len(portHolders(p, live)) > 0 {
			// The DaemonSet's own older pod holds the port: a surge.
			a.portOwner[node.Name] = true
		}
		out.Detail += keepsRunning(p)
		a.hint(node.Name, fmt.Sprintf("kubectl -n %s describe pod %s", p.Namespace, p.Name))
		return out
	}
	for _, p := range live {
		if podReady(p) {
			continue
		}
		cause, detail, container := notReadyCause(p)
		out.Reason, out.Cause, out.Detail = NotReady, cause, detail+keepsRunning(p)
		if container != "" && (strings.Contains(cause, "CrashLoop") || p.Status.ContainerStatuses != nil && restartCount(p, container) > 0) {
			a.hint(node.Name, fmt.Sprintf("kubectl -n %s logs %s -c %s --previous", p.Namespace, p.Name, container))
		} else {
			a.hint(node.Name, fmt.Sprintf("kubectl -n %s describe pod %s", p.Namespace, p.Name))
		}
		return out
	}
	out.Reason = Running
	var notes []string
	if out.Cordoned {
		notes = append(notes, "cordoned; the DaemonSet controller tolerates node.kubernetes.io/unschedulable, so its daemon pod runs here anyway")
	}
	if a.revision != "" && !anyUpdated(live, a) {
		notes = append(notes, fmt.Sprintf("%s (pod %s)", olderRevision, live[0].Name))
	}
	out.Detail = strings.Join(notes, "; ")
	return out
}

func restartCount(p *corev1.Pod, container string) int32 {
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if cs.Name == container {
			return cs.RestartCount
		}
	}
	return 0
}

func anyUpdated(pods []*corev1.Pod, a *analysis) bool {
	for _, p := range pods {
		if a.updated(p) {
			return true
		}
	}
	return false
}

// exclusion is why the DaemonSet is not meant for node: the controller's
// reason, refined to the selector requirement or the taint.
func (a *analysis) exclusion(spec *corev1.PodSpec, node *corev1.Node, why nodes.Reason) mismatch {
	if why.Kind == nodes.ReasonTaint {
		t := why.Taint
		m := mismatch{reason: TaintNotTolerated, cause: t.ToString()}
		m.detail = fmt.Sprintf("tainted %s, which the pod's tolerations (the template's and the controller's own) do not tolerate", t.ToString())
		if t.Key == corev1.TaintNodeNetworkUnavailable {
			m.detail += "; only hostNetwork daemon pods tolerate it"
		}
		return m
	}
	if m, ok := selectionMismatch(spec, node); ok {
		return m
	}
	// The controller's matcher and the requirement-by-requirement one
	// disagree only if the template cannot be parsed at all.
	return mismatch{reason: NodeAffinityMismatch, cause: "node affinity", detail: "the nodeSelector or required node affinity excludes the node"}
}

// conditionTaint: the taints the node lifecycle controller sets for a node
// that is not Ready.
func conditionTaint(key string) bool {
	return key == corev1.TaintNodeNotReady || key == corev1.TaintNodeUnreachable
}

func withoutConditionTaints(node *corev1.Node) *corev1.Node {
	n := node.DeepCopy()
	n.Spec.Taints = n.Spec.Taints[:0]
	for _, t := range node.Spec.Taints {
		if !conditionTaint(t.Key) {
			n.Spec.Taints = append(n.Spec.Taints, t)
		}
	}
	return n
}

func readyCondition(node *corev1.Node) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// nodeReadiness: the node is Ready (its condition True and no not-ready or
// unreachable taint left), else what it reports, for grouping, and since
// when.
func nodeReadiness(node *corev1.Node) (bool, string, *metav1.Time) {
	c := readyCondition(node)
	if c == nil {
		return false, "has never reported Ready", &node.CreationTimestamp
	}
	if c.Status != corev1.ConditionTrue {
		s := "Ready=" + string(c.Status)
		if c.Reason != "" {
			s += " (" + c.Reason + ")"
		}
		return false, s, &c.LastTransitionTime
	}
	for _, t := range node.Spec.Taints {
		if conditionTaint(t.Key) {
			return false, "still tainted " + t.ToString(), t.TimeAdded
		}
	}
	return true, "", nil
}

// podsByNode groups pods by the node they are for: spec.nodeName, or for a
// pod not yet scheduled the node its metadata.name affinity term names (the
// controller's util.GetTargetNodeName). Terminal pods being deleted are left
// out, as the controller does; each group is oldest first.
func podsByNode(pods []*corev1.Pod) map[string][]*corev1.Pod {
	out := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if terminal(p) && p.DeletionTimestamp != nil {
			continue
		}
		if n := targetNode(p); n != "" {
			out[n] = append(out[n], p)
		}
	}
	for _, ps := range out {
		sort.SliceStable(ps, func(i, j int) bool {
			if !ps[i].CreationTimestamp.Equal(&ps[j].CreationTimestamp) {
				return ps[i].CreationTimestamp.Before(&ps[j].CreationTimestamp)
			}
			return ps[i].Name < ps[j].Name
		})
	}
	return out
}

func targetNode(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// currentRevision is the controller-revision-hash of the DaemonSet's newest
// ControllerRevision: the controller gives the revision of the current
// template the highest number.
func currentRevision(revs []*appsv1.ControllerRevision) string {
	var cur *appsv1.ControllerRevision
	for _, r := range revs {
		if cur == nil || r.Revision > cur.Revision {
			cur = r
		}
	}
	if cur == nil {
		return ""
	}
	return cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
}

// updated is the controller's util.IsPodUpdated: the pod carries the current
// revision's hash, or the template generation of the deprecated annotation.
func (a *analysis) updated(p *corev1.Pod) bool {
	if a.revision != "" && p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == a.revision {
		return true
	}
	gen, ok := a.in.DaemonSet.Annotations[appsv1.DeprecatedTemplateGeneration]
	return ok && p.Labels[templateGenerationLabel] == gen
}

// next is the one command to run next: for the first problem in the order
// of Reasons, else for a rollout in progress.
func (a *analysis) next(r *Report) string {
	ds := a.in.DaemonSet
	if len(a.portOwner) > 0 {
		return fmt.Sprintf(`kubectl -n %s patch daemonset %s -p '{"spec":{"updateStrategy":{"rollingUpdate":{"maxSurge":0,"maxUnavailable":1}}}}'   # hostPort pods cannot surge`, ds.Namespace, ds.Name)
	}
	for _, reason := range Reasons() {
		if !reason.Problem() && reason != Surplus {
			continue
		}
		for _, n := range r.Nodes {
			if n.Reason == reason && a.hints[n.Name] != "" {
				return a.hints[n.Name]
			}
		}
	}
	switch {
	case r.Rollout.Complete:
		return ""
	case r.Rollout.Strategy == string(appsv1.OnDeleteDaemonSetStrategyType):
		// rollout status refuses OnDelete; show which pods are old.
		return fmt.Sprintf("kubectl -n %s get pods -l %s -L %s -o wide", ds.Namespace, metav1.FormatLabelSelector(ds.Spec.Selector), appsv1.DefaultDaemonSetUniqueLabelKey)
	}
	return fmt.Sprintf("kubectl -n %s rollout status daemonset/%s", ds.Namespace, ds.Name)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// collapse lists names, the first max of them and how many more.
func collapse(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s … and %d more", strings.Join(names[:max], ", "), len(names)-max)
}

// olderRevision notes a node whose ready pod is of an older revision.
const olderRevision = "runs an older revision"

// templateGenerationLabel is the pod label the controller still sets with
// the template generation (extensions/v1beta1 DaemonSetTemplateGenerationKey).
const templateGenerationLabel = "pod-template-generation"
