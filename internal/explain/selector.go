package explain

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// mismatch says which part of the template's node selection excludes a node:
// the reason code, the part (grouping nodes excluded by the same
// requirement) and what the node has instead.
type mismatch struct {
	reason Reason
	cause  string
	detail string
}

// selectionMismatch names what excludes node, in the order the controller's
// RequiredNodeAffinity checks it: nodeSelector first (every key must match),
// then the required node affinity (any term must match, every requirement
// of a term). Requirements are matched one at a time with component-helpers'
// nodeaffinity, the scheduler's own matcher, so a requirement named here is
// one that fails. ok is false when nothing excludes the node.
func selectionMismatch(spec *corev1.PodSpec, node *corev1.Node) (m mismatch, ok bool) {
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return mismatch{
			reason: NodeSelectorMismatch,
			cause:  "nodeName " + spec.NodeName,
			detail: fmt.Sprintf("spec.template.spec.nodeName pins the pod to node %s", spec.NodeName),
		}, true
	}
	keys := make([]string, 0, len(spec.NodeSelector))
	for k := range spec.NodeSelector {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		want := spec.NodeSelector[k]
		have, found := node.Labels[k]
		if found && have == want {
			continue
		}
		m := mismatch{reason: NodeSelectorMismatch, cause: fmt.Sprintf("nodeSelector %s=%s", k, want)}
		if found {
			m.detail = fmt.Sprintf("nodeSelector wants %s=%s; the node has %s=%s", k, want, k, have)
		} else {
			m.detail = fmt.Sprintf("nodeSelector wants %s=%s; the node has no label %s", k, want, k)
		}
		return m, true
	}
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return mismatch{}, false
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	var failing []string
	for i, term := range terms {
		why, fails := termMismatch(term, node)
		if !fails {
			return mismatch{}, false
		}
		failing = append(failing, fmt.Sprintf("term %d: %s", i, why))
	}
	const field = "requiredDuringSchedulingIgnoredDuringExecution"
	m = mismatch{reason: NodeAffinityMismatch}
	switch len(terms) {
	case 0:
		// The API server refuses an empty term list; the matcher matches nothing.
		m.cause = field + " has no terms"
		m.detail = m.cause
	case 1:
		m.cause = field + " " + termString(terms[0])
		m.detail = failing[0]
	default:
		m.cause = fmt.Sprintf("%s: none of %d terms", field, len(terms))
		m.detail = strings.Join(failing, "; ")
	}
	return m, true
}

// termMismatch returns the first requirement of term that node fails, with
// what the node has. A term without requirements matches nothing, as in
// the scheduler.
func termMismatch(term corev1.NodeSelectorTerm, node *corev1.Node) (string, bool) {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return "an empty term matches no node", true
	}
	for _, r := range term.MatchExpressions {
		ok, err := matches(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{r}}, node)
		if err != nil {
			return fmt.Sprintf("%s is invalid (%v)", requirementString(r), err), true
		}
		if !ok {
			if v, found := node.Labels[r.Key]; found {
				return fmt.Sprintf("%s; the node has %s=%s", requirementString(r), r.Key, v), true
			}
			return fmt.Sprintf("%s; the node has no label %s", requirementString(r), r.Key), true
		}
	}
	for _, r := range term.MatchFields {
		ok, err := matches(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{r}}, node)
		if err != nil {
			return fmt.Sprintf("field %s is invalid (%v)", requirementString(r), err), true
		}
		if !ok {
			return fmt.Sprintf("field %s; the node is %s", requirementString(r), node.Name), true
		}
	}
	return "", false
}

func matches(term corev1.NodeSelectorTerm, node *corev1.Node) (bool, error) {
	sel, err := nodeaffinity.NewNodeSelector(&corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{term}})
	if err != nil {
		return false, err
	}
	return sel.Match(node), nil
}

func termString(t corev1.NodeSelectorTerm) string {
	var parts []string
	for _, r := range t.MatchExpressions {
		parts = append(parts, requirementString(r))
	}
	for _, r := range t.MatchFields {
		parts = append(parts, "field "+requirementString(r))
	}
	return strings.Join(parts, ", ")
}

func requirementString(r corev1.NodeSelectorRequirement) string {
	switch r.Operator {
	case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
		return fmt.Sprintf("%s %s", r.Key, r.Operator)
	}
	return fmt.Sprintf("%s %s [%s]", r.Key, r.Operator, strings.Join(r.Values, ","))
}
