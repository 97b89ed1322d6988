package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonguard/daemonguard/internal/config"
)

// ReasonPlaceholder is the reason of a printed exemption, for the admin to
// replace: an exemption is a decision someone should be able to read later.
const ReasonPlaceholder = "TODO: why this DaemonSet needs this access"

// selectorLabels are the labels an exemption selects a DaemonSet by when it
// cannot name it: the ones that name the application, not the release or
// version. A function, not a package variable: nothing may change it.
func selectorLabels() []string {
	return []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app", "k8s-app"}
}

// NarrowestExemption is the exemptions[] entry that admits ds in namespace
// from exactly rules, and no other DaemonSet: its namespace and its name.
// A name is unique in a namespace and no UPDATE changes it, so nothing the
// author sets on their object (labels, annotations) widens the entry; only
// the same name, in the same namespace, matches.
//
// A DaemonSet created with metadata.generateName gets a new name on every
// create, so its name cannot be exempted ahead of time. It is then selected
// by its own labels in its namespace, and the reason says that any
// DaemonSet there carrying those labels is exempt too. Without a name and
// without labels there is nothing narrower than the whole namespace, and
// NarrowestExemption returns nil rather than an entry that wide.
func NarrowestExemption(ds *appsv1.DaemonSet, namespace string, rules []string) *config.Exemption {
	e := &config.Exemption{Namespaces: []string{namespace}, Rules: slices.Clone(rules), Reason: ReasonPlaceholder}
	if ds.Name != "" && !generatedName(ds) {
		e.DaemonSets = []string{ds.Name}
		return e
	}
	match := map[string]string{}
	for _, k := range selectorLabels() {
		if v, ok := ds.Labels[k]; ok && (k != "app.kubernetes.io/instance" || ds.Labels["app.kubernetes.io/name"] != "") {
			match[k] = v
		}
	}
	if len(match) == 0 {
		maps.Copy(match, ds.Labels)
	}
	if len(match) == 0 {
		return nil
	}
	e.Selector = &metav1.LabelSelector{MatchLabels: match}
	e.Reason = ReasonPlaceholder + " (its name is generated (metadata.generateName), so it cannot be exempted by name: this exempts every DaemonSet in " +
		namespace + " with these labels, which their authors set; give it a fixed name to exempt it alone)"
	return e
}

// generatedName reports whether ds's name was (or will be) generated from
// metadata.generateName: the API server appends five random characters to
// it, cut to 58 characters first (k8s.io/apiserver's
// SimpleNameGenerator). A name given beside a generateName is used as it
// is, and can be exempted.
func generatedName(ds *appsv1.DaemonSet) bool {
	if ds.GenerateName == "" {
		return false
	}
	if ds.Name == "" {
		return true
	}
	base := ds.GenerateName
	if len(base) > 58 {
		base = base[:58]
	}
	return len(ds.Name) == len(base)+5 && strings.HasPrefix(ds.Name, base)
}

// NoExemptionReason says why NarrowestExemption found no entry for ds.
func NoExemptionReason(namespace string) string {
	return "it has no fixed name (metadata.generateName) and no labels, so no exemption narrower than the whole namespace " + namespace +
		" can select it; give it a fixed name (or labels) and run daemonguard check again"
}

// Flow is e as one line of YAML flow style, ready to paste under
// exemptions: in the places where a block would not fit (the 422's message,
// an Event). Names, ids and namespaces need no quoting; the reason is
// quoted.
func Flow(e *config.Exemption) string {
	var parts []string
	list := func(key string, v []string) {
		if len(v) > 0 {
			parts = append(parts, key+": ["+strings.Join(v, ", ")+"]")
		}
	}
	list("namespaces", e.Namespaces)
	list("daemonSets", e.DaemonSets)
	if e.Selector != nil {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(e.Selector.MatchLabels)) {
			kv = append(kv, fmt.Sprintf("%q: %q", k, e.Selector.MatchLabels[k]))
		}
		parts = append(parts, "selector: {matchLabels: {"+strings.Join(kv, ", ")+"}}")
	}
	list("rules", e.Rules)
	if e.Reason != "" {
		parts = append(parts, fmt.Sprintf("reason: %q", e.Reason))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// RuleWhy says in one line why one rule denied a DaemonSet: what the rule
// guards against, and what it found here. It is what an admin judges
// before exempting the DaemonSet, and what the exemption's reason should
// answer.
type RuleWhy struct {
	Rule string `json:"rule"`
	// Why the rule's findings are dangerous (its registry entry).
	Why string `json:"why"`
	// Found is the first finding, without the author's fix.
	Found string `json:"found"`
	// Findings counts the rule's denying findings.
	Findings int `json:"findings"`
}

// Line is w as one line of text.
func (w *RuleWhy) Line() string {
	s := w.Rule + ": " + w.Why + "; here " + w.Found
	if w.Findings > 1 {
		s += fmt.Sprintf(" (and %d more)", w.Findings-1)
	}
	return s
}

// WhyDenied is one RuleWhy per rule that denies in v, in the order of
// v.DeniedRules.
func (p *Policy) WhyDenied(v *Verdict) []RuleWhy {
	var out []RuleWhy
	for _, id := range v.DeniedRules() {
		w := RuleWhy{Rule: id}
		for i := range p.rules {
			if p.rules[i].meta.ID == id {
				w.Why = p.rules[i].meta.Why
			}
		}
		for _, x := range v.Violations {
			if x.Rule != id || x.Action != Deny {
				continue
			}
			if w.Findings == 0 {
				w.Found = x.Field + ": " + finding(x.Message)
			}
			w.Findings++
		}
		out = append(out, w)
	}
	return out
}

// finding is a rule's message without the author's fix, which rules write
// after the last "; " (the fix is the author's business; the admin judges
// the access).
func finding(msg string) string {
	if i := strings.LastIndex(msg, "; "); i > 0 {
		return msg[:i]
	}
	return msg
}
