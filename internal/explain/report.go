// Package explain answers "why isn't it running on that node?" for one
// DaemonSet in a live cluster: node by node, whether the DaemonSet controller
// wants a daemon pod there (its own predicates, from validators/nodes), whether
// one runs and is ready, and if not why, as a reason code with a human line;
// then the state of the rollout and what blocks it.
//
// [Explain] is a pure function of what [Input] holds (the DaemonSet, the
// nodes, its pods, its events and revisions, a few other pods that hold host
// ports); package explain/live reads those from an API server. The report
// renders as text ([Report.WriteText]) or as JSON (the Report type itself,
// whose fields are a stable contract documented in the README).
package explain

// Reason is a node's reason code. Every node gets exactly one.
type Reason string

// The reason codes. Running is the only one for a node where all is well;
// TaintNotTolerated, NodeSelectorMismatch and NodeAffinityMismatch are nodes
// the DaemonSet is not meant for; the others are problems.
const (
	// Running: a ready daemon pod runs on a node it should run on.
	Running Reason = "Running"
	// TaintNotTolerated: the node has a NoSchedule or NoExecute taint that
	// the daemon pod's tolerations (the template's plus the controller's
	// own) do not tolerate; the detail names the taint.
	TaintNotTolerated Reason = "TaintNotTolerated"
	// NodeSelectorMismatch: the template's nodeSelector (or nodeName)
	// excludes the node; the detail names the label.
	NodeSelectorMismatch Reason = "NodeSelectorMismatch"
	// NodeAffinityMismatch: the template's required node affinity excludes
	// the node; the detail names the term and the requirement that fails.
	NodeAffinityMismatch Reason = "NodeAffinityMismatch"
	// NotCreated: the node should run a daemon pod and has none; the detail
	// quotes the controller's latest FailedCreate event.
	NotCreated Reason = "NotCreated"
	// Pending: a daemon pod for the node is not scheduled; the detail is
	// the scheduler's reason (and which pod holds a host port).
	Pending Reason = "Pending"
	// NotReady: a daemon pod is on the node but not ready; the detail is the
	// container state (crash loop, image pull, probe).
	NotReady Reason = "NotReady"
	// NodeNotReady: the DaemonSet is meant for the node but the node is not
	// Ready; the controller creates no new pod there until it is.
	NodeNotReady Reason = "NodeNotReady"
	// Surplus: a daemon pod runs on a node the DaemonSet is no longer meant
	// for; the detail says whether the controller deletes it.
	Surplus Reason = "Surplus"
)

// Reasons lists every reason code, in the order reports group them:
// problems first, then nodes left out, then Running.
func Reasons() []Reason {
	return []Reason{NotCreated, Pending, NotReady, NodeNotReady, Surplus, TaintNotTolerated, NodeSelectorMismatch, NodeAffinityMismatch, Running}
}

// Problem reports whether the reason means the DaemonSet does not run as it
// should on a node it is meant for (the exit status of `explain` is 1 when
// some node has such a reason).
func (r Reason) Problem() bool {
	switch r {
	case NotCreated, Pending, NotReady, NodeNotReady:
		return true
	}
	return false
}

// Excluded reports whether the reason means the DaemonSet is not meant for
// the node (its nodeSelector, affinity or tolerations leave it out).
func (r Reason) Excluded() bool {
	switch r {
	case TaintNotTolerated, NodeSelectorMismatch, NodeAffinityMismatch:
		return true
	}
	return false
}

// Report is explain's answer for one DaemonSet. Its JSON form is the `-o
// json` output.
type Report struct {
	DaemonSet Ref `json:"daemonset"`
	// NodeCount is the number of nodes in the cluster.
	NodeCount int `json:"nodeCount"`
	// Desired is the number of nodes the DaemonSet is meant for: the
	// controller's predicates, with a NotReady node counted (the controller
	// leaves it out of status.desiredNumberScheduled until it is Ready).
	Desired int `json:"desired"`
	// Running is the number of those nodes where a ready daemon pod runs.
	Running int `json:"running"`
	// Reasons counts nodes per reason code.
	Reasons map[Reason]int `json:"reasons"`
	// Summary is the first line of the text output.
	Summary string `json:"summary"`
	// Nodes lists every node, in the order the API server listed them.
	Nodes   []Node  `json:"nodes"`
	Rollout Rollout `json:"rollout"`
	// Next is the command to run next, when there is one.
	Next string `json:"next,omitempty"`
	// OK is true when every node the DaemonSet is meant for runs a ready
	// daemon pod and none waits to be scheduled or started (exit status 0).
	OK bool `json:"ok"`
}

// Ref names the DaemonSet.
type Ref struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// Node is the answer for one node.
type Node struct {
	Name string `json:"name"`
	// ShouldRun: the DaemonSet is meant for this node (see Report.Desired).
	ShouldRun bool `json:"shouldRun"`
	// Runs: a ready daemon pod of this DaemonSet is on the node.
	Runs   bool   `json:"runs"`
	Reason Reason `json:"reason"`
	// Cause is what nodes grouped under the same reason share: the taint,
	// the selector requirement, the FailedCreate message, the scheduler's
	// reason, the container state. Empty for Running.
	Cause string `json:"cause,omitempty"`
	// Detail is the human line for this node.
	Detail string `json:"detail,omitempty"`
	// NodeReady is the node's Ready condition (and no not-ready or
	// unreachable taint).
	NodeReady bool `json:"nodeReady"`
	// Cordoned is spec.unschedulable: the controller tolerates it, so a
	// cordoned node still runs its daemon pod.
	Cordoned bool `json:"cordoned,omitempty"`
	// Pods are this DaemonSet's pods for the node, oldest first.
	Pods []Pod `json:"pods,omitempty"`
}

// Pod is one daemon pod.
type Pod struct {
	Name  string `json:"name"`
	Phase string `json:"phase"`
	// Scheduled: bound to the node.
	Scheduled bool `json:"scheduled"`
	Ready     bool `json:"ready"`
	// Updated: the pod is of the DaemonSet's current revision.
	Updated     bool `json:"updated"`
	Terminating bool `json:"terminating,omitempty"`
}

// Rollout is the state of the DaemonSet's update.
type Rollout struct {
	// Strategy is RollingUpdate or OnDelete.
	Strategy string `json:"strategy"`
	// MaxUnavailable and MaxSurge are the strategy's values scaled to the
	// controller's desired count, as the controller computes them (both 0
	// means maxUnavailable 1).
	MaxUnavailable int `json:"maxUnavailable"`
	MaxSurge       int `json:"maxSurge"`
	// Generation and ObservedGeneration: the controller has acted on the
	// latest spec when they are equal.
	Generation         int64 `json:"generation"`
	ObservedGeneration int64 `json:"observedGeneration"`
	// Revision is the current revision's controller-revision-hash, empty
	// when the controller has not recorded one.
	Revision string `json:"revision,omitempty"`
	// Desired, Updated, Available and Ready are the DaemonSet's status
	// (desiredNumberScheduled, updatedNumberScheduled, numberAvailable,
	// numberReady), as `kubectl rollout status` reads them.
	Desired   int32 `json:"desired"`
	Updated   int32 `json:"updated"`
	Available int32 `json:"available"`
	Ready     int32 `json:"ready"`
	// Left is the number of nodes the DaemonSet is meant for that do not
	// yet run a ready pod of the current revision.
	Left int `json:"left"`
	// Complete: nothing is left and the controller has seen the latest spec.
	Complete bool `json:"complete"`
	// Blocked says what holds the rollout back, one line each.
	Blocked []string `json:"blocked,omitempty"`
}
