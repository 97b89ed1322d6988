package nodes

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Check names one of the package's checks, for a rule registry to map to
// its own ids and actions.
type Check string

const (
	// CheckCoverage: some nodes get no daemon pod because of taints the pod
	// does not tolerate (often deliberate: say so, let policy decide).
	CheckCoverage Check = "coverage"
	// CheckMatchesNoNode: the nodeSelector, required node affinity or
	// nodeName excludes every node.
	CheckMatchesNoNode Check = "matches-no-node"
	// CheckDoesNotFit: on some covered nodes the pod's requests exceed the
	// node's allocatable; those pods stay Pending.
	CheckDoesNotFit Check = "does-not-fit"
	// CheckHostPortSurge: host ports with maxSurge > 0; a rollout stalls.
	CheckHostPortSurge Check = "hostport-surge"
)

// Finding is what one check found: the field an author would change and a
// message that says what will happen.
type Finding struct {
	Check Check
	// Field is a path like spec.template.spec.tolerations.
	Field   string
	Message string
}

// Review runs every check of the package over ds and nodes: Coverage once,
// Fit over the covered nodes, HostPortSurge. Findings come in a fixed order
// (matches-no-node or coverage, does-not-fit, hostport-surge); none means
// the DaemonSet runs on every node and rolls out. HostPortSurge needs no
// nodes and is checked even when nodes is empty.
func Review(ds *appsv1.DaemonSet, nodes []*corev1.Node) []Finding {
	out := nodeFindings(ds, nodes)
	if f, ok := hostPortFinding(ds); ok {
		out = append(out, f)
	}
	return out
}

// nodeFindings are Review's findings that depend on the nodes: coverage (or
// matches-no-node) and does-not-fit.
func nodeFindings(ds *appsv1.DaemonSet, nodes []*corev1.Node) []Finding {
	var out []Finding
	spec := &ds.Spec.Template.Spec
	cov := Coverage(ds, nodes)
	switch {
	case cov.MatchesNoNode():
		out = append(out, Finding{
			Check: CheckMatchesNoNode, Field: selectorField(spec),
			Message: fmt.Sprintf("matches none of the %s: the DaemonSet runs nowhere", plural(cov.Total, "node", "nodes")),
		})
	case len(cov.Uncovered) > 0:
		field := "spec.template.spec.tolerations"
		for _, u := range cov.Uncovered {
			if u.Reason.Kind != ReasonTaint {
				field = selectorField(spec)
			}
		}
		out = append(out, Finding{Check: CheckCoverage, Field: field, Message: cov.summary("runs on")})
	}
	fit := Fit(ds, cov.Covered)
	for _, t := range fit.TooSmall {
		out = append(out, Finding{
			Check: CheckDoesNotFit, Field: requestsField(spec),
			Message: t.String() + "; its daemon pods there stay Pending",
		})
	}
	return out
}

// hostPortFinding is the hostport-surge finding, which needs no nodes.
func hostPortFinding(ds *appsv1.DaemonSet) (Finding, bool) {
	if c := HostPortSurge(ds); c != nil {
		return Finding{Check: CheckHostPortSurge, Field: "spec.updateStrategy.rollingUpdate.maxSurge", Message: c.String()}, true
	}
	return Finding{}, false
}

// selectorField is the field that restricts the nodes: nodeName, the
// required node affinity, or the nodeSelector.
func selectorField(spec *corev1.PodSpec) string {
	switch {
	case spec.NodeName != "":
		return "spec.template.spec.nodeName"
	case spec.Affinity != nil && spec.Affinity.NodeAffinity != nil && spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil && len(spec.NodeSelector) == 0:
		return "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
	default:
		return "spec.template.spec.nodeSelector"
	}
}

// requestsField is where the pod's requests come from: pod-level resources
// when set, else the containers.
func requestsField(spec *corev1.PodSpec) string {
	if spec.Resources != nil && len(spec.Resources.Requests) > 0 {
		return "spec.template.spec.resources.requests"
	}
	return "spec.template.spec.containers"
}
