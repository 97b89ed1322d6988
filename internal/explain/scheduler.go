package explain

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/daemonguard/daemonguard/validators/nodes"
)

// schedulerReasons extracts, from the message of a daemon pod's
// PodScheduled=False condition, the scheduler's reasons that concern the
// pod's own node. The message covers every node ("0/20 nodes are available:
// 1 Insufficient cpu, 19 node(s) didn't satisfy plugin(s) [NodeAffinity].
// preemption: ..."); a daemon pod is pinned to one node by a metadata.name
// node affinity term, so the NodeAffinity part is about the other nodes and
// is dropped, as are the counts and the preemption part. Empty when nothing
// is left.
func schedulerReasons(msg string) []string {
	if i := strings.Index(msg, " preemption:"); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, "nodes are available:"); i >= 0 {
		msg = msg[i+len("nodes are available:"):]
	}
	msg = strings.TrimSuffix(strings.TrimSpace(msg), ".")
	var out []string
	for _, part := range strings.Split(msg, ", ") {
		part = strings.TrimSpace(part)
		if part == "" || strings.Contains(part, "NodeAffinity") || strings.Contains(part, "node affinity/selector") {
			continue
		}
		// Drop the node count ("1 Insufficient cpu", "1 node(s) didn't ...").
		if i := strings.IndexByte(part, ' '); i > 0 && isDigits(part[:i]) {
			part = part[i+1:]
		}
		part = strings.TrimPrefix(part, "node(s) ")
		out = append(out, part)
	}
	return out
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// unscheduled returns the PodScheduled=False condition of an unbound pod, or
// nil.
func unscheduled(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		c := &p.Status.Conditions[i]
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return c
		}
	}
	return nil
}

// pendingCause is the scheduler's reason for an unbound daemon pod, for
// grouping ("Insufficient cpu", "didn't have free ports for the requested
// pod ports"), and a detail naming what is short or who holds the port.
func pendingCause(p *corev1.Pod, node *corev1.Node, others []*corev1.Pod) (cause, detail string) {
	cond := unscheduled(p)
	if cond == nil {
		if len(p.Spec.SchedulingGates) > 0 {
			return "scheduling gated", fmt.Sprintf("pod %s waits for its scheduling gates (%s)", p.Name, p.Spec.SchedulingGates[0].Name)
		}
		return "not scheduled yet", fmt.Sprintf("pod %s is not scheduled yet and the scheduler has not said why (is kube-scheduler running?)", p.Name)
	}
	reasons := schedulerReasons(cond.Message)
	if len(reasons) == 0 {
		if cond.Message == "" {
			return cond.Reason, fmt.Sprintf("pod %s: PodScheduled=False (%s)", p.Name, cond.Reason)
		}
		return cond.Message, fmt.Sprintf("pod %s: %s", p.Name, cond.Message)
	}
	cause = strings.Join(reasons, ", ")
	var notes []string
	for _, r := range reasons {
		switch {
		case strings.HasPrefix(r, "Insufficient "):
			if n := node; n != nil {
				notes = append(notes, shortfall(p, n, corev1.ResourceName(strings.TrimPrefix(r, "Insufficient "))))
			}
		case strings.Contains(r, "free ports"):
			if held := portHolders(p, others); len(held) > 0 {
				notes = append(notes, held...)
			} else if want := nodes.HostPorts(&p.Spec); len(want) > 0 {
				ports := make([]string, len(want))
				for i, w := range want {
					ports[i] = fmt.Sprintf("%d/%s", w.HostPort, w.Protocol)
				}
				notes = append(notes, "it wants host port "+strings.Join(ports, ", ")+"; which pod holds it was not looked up")
			}
		case strings.Contains(r, "Too many pods"):
			if n := node; n != nil {
				pods := n.Status.Allocatable[corev1.ResourcePods]
				notes = append(notes, fmt.Sprintf("the node allows %s pods and has them all", pods.String()))
			}
		}
	}
	detail = fmt.Sprintf("pod %s: %s", p.Name, cause)
	if len(notes) > 0 {
		detail += " (" + strings.Join(notes, "; ") + ")"
	}
	return cause, detail
}

// shortfall says how the pod's request of res compares with the node's
// allocatable: larger than the whole node, or taken by the node's other pods.
func shortfall(p *corev1.Pod, node *corev1.Node, res corev1.ResourceName) string {
	want := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})[res]
	have, listed := node.Status.Allocatable[res]
	switch {
	case !listed:
		return fmt.Sprintf("requests %s %s; the node has none", res, want.String())
	case want.Cmp(have) > 0:
		return fmt.Sprintf("requests %s %s; the whole node has %s allocatable", res, want.String(), have.String())
	default:
		return fmt.Sprintf("requests %s %s of the node's %s allocatable; its other pods hold the rest", res, want.String(), have.String())
	}
}

// portHolders names the pods in others that hold a host port p asks for
// (bound, not finished).
func portHolders(p *corev1.Pod, others []*corev1.Pod) []string {
	want := nodes.HostPorts(&p.Spec)
	var out []string
	for _, o := range others {
		if o.UID == p.UID || o.Spec.NodeName == "" || terminal(o) {
			continue
		}
		for _, hp := range nodes.HostPorts(&o.Spec) {
			for _, w := range want {
				if hp.HostPort == w.HostPort && hp.Protocol == w.Protocol {
					out = append(out, fmt.Sprintf("host port %d/%s is held by %s", w.HostPort, w.Protocol, owner(o)))
				}
			}
		}
	}
	return out
}

// owner names a pod with its namespace and controller: "pod kube-system/x-1
// (DaemonSet x)".
func owner(p *corev1.Pod) string {
	s := fmt.Sprintf("pod %s/%s", p.Namespace, p.Name)
	for _, ref := range p.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			s += fmt.Sprintf(" (%s %s)", ref.Kind, ref.Name)
		}
	}
	return s
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}
