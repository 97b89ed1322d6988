// Package precondition writes, as CEL over the admission request (`object`,
// `oldObject`, `request`), the condition under which a rule can fire or a
// mutator can act. The webhook configurations carry them as matchConditions,
// so the API server does not call daemonguard for a DaemonSet none of them
// holds for: a compliant re-apply costs no hop at all.
//
// A precondition may be wider than what it guards, never narrower; a test
// evaluates them with the API server's own CEL library against the engine.
// They must also never fail to evaluate on an object the API server hands to
// a webhook: an error follows the webhook's failurePolicy, and with Fail the
// API server rejects the write. So every optional field is guarded by has()
// before it is read.
package precondition

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"slices"
	"strconv"
	"strings"
)

// Cond is a condition in disjunctive normal form: it holds when every atom
// of some term holds. Atoms are CEL expressions; keeping the form lets
// conditions of many rules be merged without repeating shared atoms.
type Cond struct {
	terms [][]atom
}

// atom is one CEL expression and what it tests, in words for the docs.
type atom struct{ expr, doc string }

// Never is the condition that never holds (no term).
var Never = Cond{}

// Always is the condition that always holds (one term without atoms).
var Always = Cond{terms: [][]atom{{}}}

// Atom is a condition of one CEL expression; doc says in a few words what
// it tests, for the generated docs.
func Atom(doc, expr string) Cond { return Cond{terms: [][]atom{{{expr: expr, doc: doc}}}} }

// Or holds when any of cs holds.
func Or(cs ...Cond) Cond {
	var out Cond
	for _, c := range cs {
		out.terms = append(out.terms, c.terms...)
	}
	return out.simplify()
}

// And holds when all of cs hold.
func And(cs ...Cond) Cond {
	out := Always
	for _, c := range cs {
		var next Cond
		for _, a := range out.terms {
			for _, b := range c.terms {
				next.terms = append(next.terms, append(slices.Clip(a), b...))
			}
		}
		out = next
	}
	return out.simplify()
}

// IsAlways reports whether c holds for every request.
func (c Cond) IsAlways() bool {
	return slices.ContainsFunc(c.terms, func(t []atom) bool { return len(t) == 0 })
}

// IsNever reports whether c holds for no request.
func (c Cond) IsNever() bool { return len(c.terms) == 0 }

// simplify sorts and dedupes the atoms of each term, then drops every term
// that another term implies (absorption: a || (a && b) is a).
func (c Cond) simplify() Cond {
	byExpr := func(a, b atom) int { return strings.Compare(a.expr, b.expr) }
	terms := make([][]atom, 0, len(c.terms))
	for _, t := range c.terms {
		t = slices.Clone(t)
		slices.SortFunc(t, byExpr)
		terms = append(terms, slices.CompactFunc(t, func(a, b atom) bool { return a.expr == b.expr }))
	}
	slices.SortStableFunc(terms, func(a, b []atom) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return slices.CompareFunc(a, b, byExpr)
	})
	var out Cond
	for _, t := range terms {
		absorbed := slices.ContainsFunc(out.terms, func(kept []atom) bool { return subset(kept, t) })
		if !absorbed {
			out.terms = append(out.terms, t)
		}
	}
	return out
}

// subset reports whether every atom of a is in b (both sorted).
func subset(a, b []atom) bool {
	for _, x := range a {
		if _, found := slices.BinarySearchFunc(b, x, func(e, x atom) int { return strings.Compare(e.expr, x.expr) }); !found {
			return false
		}
	}
	return true
}

// Doc says in words when c holds.
func (c Cond) Doc() string {
	switch {
	case c.IsNever():
		return "never"
	case c.IsAlways():
		return "always"
	}
	terms := make([]string, len(c.terms))
	for i, t := range c.terms {
		docs := make([]string, len(t))
		for j, a := range t {
			docs[j] = a.doc
		}
		terms[i] = strings.Join(docs, " and ")
	}
	return strings.Join(terms, "; or ")
}

// CEL renders c as one CEL expression.
func (c Cond) CEL() string { return c.render(" || ") }

// render joins c's terms with or, a CEL "||" with any whitespace around it.
// The terms go cheapest first: CEL's || stops at the first true term, and
// a first apply, which calls the webhook anyway, is mostly decided by a
// host namespace or a missing default before any list is walked. The pod
// spec is read once, into Spec, rather than once for every field read: the
// API server resolves each field of a path anew, and that is most of what
// a condition costs it.
func (c Cond) render(or string) string {
	switch {
	case c.IsNever():
		return "false"
	case c.IsAlways():
		return "true"
	}
	terms := make([]string, len(c.terms))
	for i, t := range c.terms {
		atoms := make([]string, len(t))
		for j, a := range t {
			atoms[j] = "(" + a.expr + ")"
		}
		terms[i] = strings.Join(atoms, " && ")
		if len(c.terms) > 1 && len(t) > 1 {
			terms[i] = "(" + terms[i] + ")"
		}
	}
	slices.SortStableFunc(terms, func(a, b string) int {
		if d := strings.Count(a, ".exists(") - strings.Count(b, ".exists("); d != 0 {
			return d
		}
		return len(a) - len(b)
	})
	expr := strings.Join(terms, or)
	if !strings.Contains(expr, Spec) {
		return expr
	}
	// exists over a list of one is its predicate on that one element, errors
	// included: CEL as the API server runs it has no cel.bind.
	return "[" + specPath + "].exists(" + Spec + ", " + expr + ")"
}

// String is CEL.
func (c Cond) String() string { return c.CEL() }

// Spec names the pod template's spec of the request's object in a
// condition's atoms; render binds it to specPath.
const Spec = "podSpec"

// specPath is where the pod template's spec is in the request's object. A
// DaemonSet always has one: the typed object the API server hands over
// cannot lack it.
const specPath = "object.spec.template.spec"

// containerLists are the pod spec's lists of containers, all of which the
// rules read.
var containerLists = []string{"containers", "initContainers", "ephemeralContainers"}

// Quote is s as a CEL string literal.
func Quote(s string) string { return strconv.Quote(s) }

// Has is a test that every field on the way from root to the last of path
// is present, written as has() of each, so reading it cannot fail.
func Has(root string, path ...string) string {
	tests := make([]string, len(path))
	for i := range path {
		tests[i] = "has(" + root + "." + strings.Join(path[:i+1], ".") + ")"
	}
	return strings.Join(tests, " && ")
}

// IsTrue is a test that the boolean at root.path is present and true.
func IsTrue(root string, path ...string) string {
	return Has(root, path...) + " && " + root + "." + strings.Join(path, ".") + " == true"
}

// AnyIn is a test that some element v of the list root.field satisfies pred
// (an expression over v). A list that is absent or null has none; the
// null test matters for `containers`, which has no omitempty and reaches a
// mutating webhook as null in an object that validation will refuse.
func AnyIn(root, field, v, pred string) string {
	list := root + "." + field
	return "has(" + list + ") && " + list + " != null && " + list + ".exists(" + v + ", " + pred + ")"
}

// AnyContainer is a test that some container, init container or ephemeral
// container c satisfies pred.
func AnyContainer(pred string) string {
	tests := make([]string, len(containerLists))
	for i, l := range containerLists {
		tests[i] = "(" + AnyIn(Spec, l, "c", pred) + ")"
	}
	return strings.Join(tests, " || ")
}

// SecurityContext reads c.securityContext.path, for AnyContainer predicates.
func SecurityContext(path ...string) string {
	return Has("c", append([]string{"securityContext"}, path...)...)
}

// Conditions shared by several rules.
var (
	// HostPath: some volume is a hostPath volume, the only way a pod
	// mounts a host directory.
	HostPath = Atom("a hostPath volume", AnyIn(Spec, "volumes", "v", "has(v.hostPath)"))
	// HostPID: the pod shares the host's PID namespace.
	HostPID = Atom("`hostPID`", IsTrue(Spec, "hostPID"))
	// HostNetwork: the pod shares the host's network namespace.
	HostNetwork = Atom("`hostNetwork`", IsTrue(Spec, "hostNetwork"))
	// Escalates: some container is privileged, adds a capability, asks for
	// an unmasked /proc, is a Windows HostProcess container or asks for a
	// host port. One test for every rule that reads any of these, so the
	// API server walks the containers once.
	Escalates = Atom("a container that is privileged, adds a capability, sets `procMount: Unmasked`, is a HostProcess or has a `hostPort`", AnyContainer(strings.Join([]string{
		"(" + IsTrue("c", "securityContext", "privileged") + ")",
		"(" + SecurityContext("capabilities", "add") + " && size(c.securityContext.capabilities.add) > 0)",
		"(" + SecurityContext("procMount") + ` && c.securityContext.procMount == "Unmasked")`,
		"(" + IsTrue("c", "securityContext", "windowsOptions", "hostProcess") + ")",
		"(" + AnyIn("c", "ports", "p", `has(p.hostPort) && p.hostPort != 0`) + ")",
	}, " || ")))
	// Changed: a CREATE, or an UPDATE that changes the pod template or the
	// update strategy: what rules that judge the object against the
	// cluster (nodes, PriorityClasses) read of it. An UPDATE that changes
	// neither leaves their verdict to the cluster's own change, which scan
	// and reports follow.
	Changed = Atom("a CREATE, or an UPDATE of the pod template or update strategy", `request.operation != "UPDATE" || object.spec.template != oldObject.spec.template || `+
		`has(object.spec.updateStrategy) != has(oldObject.spec.updateStrategy) || `+
		`(has(object.spec.updateStrategy) && object.spec.updateStrategy != oldObject.spec.updateStrategy)`)
)

// Names of the matchConditions daemonguard writes into its webhooks.
const (
	RuleMayFire   = "daemonguard-rule-may-fire"
	MutatorMayAct = "daemonguard-mutator-may-act"
)

// MatchConditions is c as a webhook's matchConditions under name: none when c
// always holds, so the webhook is called for every request it matches.
func (c Cond) MatchConditions(name string) []admissionregistrationv1.MatchCondition {
	if c.IsAlways() {
		return nil
	}
	// One term a line: the configuration is read with kubectl get -o yaml.
	return []admissionregistrationv1.MatchCondition{{Name: name, Expression: c.render(" ||\n")}}
}
