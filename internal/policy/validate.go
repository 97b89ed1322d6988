package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/validators"
)

// Verdict actions, as they appear in findings and in `check` output.
const (
	Deny  = "deny"
	Warn  = "warn"
	Audit = "audit"
)

// Violation is one rule finding with what the policy does about it.
type Violation struct {
	Rule    string `json:"rule"`
	Action  string `json:"action"`
	Field   string `json:"field"`
	Message string `json:"message"`
	// Ratcheted is true when an enforced finding was already present on the
	// old object of an UPDATE, and so only warns.
	Ratcheted bool `json:"ratcheted,omitempty"`
	// AllowHostPath, on a finding about a host path nobody classified, is
	// the validation.allowedHostPaths entry that makes it known safe.
	AllowHostPath *config.AllowedHostPath `json:"allowHostPath,omitempty"`
}

// Verdict is the outcome of validating one DaemonSet.
type Verdict struct {
	Violations []Violation
	// Exempted are the keys (ExemptionMatch.Key) of the exemptions that
	// skipped a rule, each once, for the exemption-hits metric.
	Exempted []string
}

// Allowed is false iff some violation denies.
func (v *Verdict) Allowed() bool {
	for i := range v.Violations {
		if v.Violations[i].Action == Deny {
			return false
		}
	}
	return true
}

// Denials returns the denying findings as the field errors of a 422 response.
func (v *Verdict) Denials() field.ErrorList {
	var errs field.ErrorList
	for _, x := range v.Violations {
		if x.Action == Deny {
			errs = append(errs, &field.Error{Type: field.ErrorTypeForbidden, Field: x.Field, Detail: "[" + x.Rule + "] " + x.Message})
		}
	}
	return errs
}

// ExemptionsURL is where the README explains exemptions, the admin's way
// out of a denial.
const ExemptionsURL = "https://github.com/daemonguard/daemonguard#exemptions"

// DeniedRules are the ids of the rules that deny, each once, in the order
// their findings appear: what an exemption must name to admit the DaemonSet.
func (v *Verdict) DeniedRules() []string {
	var ids []string
	for _, x := range v.Violations {
		if x.Action == Deny && !slices.Contains(ids, x.Rule) {
			ids = append(ids, x.Rule)
		}
	}
	return ids
}

// Status is the 422 Invalid error of a denial of ds in namespace: one cause
// per denying finding, and a closing sentence with the admin's way out (the
// exemptions[] entry that admits ds alone, NarrowestExemption), so a denied
// author knows whom to ask and for what.
func (v *Verdict) Status(namespace string, ds *appsv1.DaemonSet) *apierrors.StatusError {
	err := apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "DaemonSet"}, ds.Name, v.Denials())
	err.ErrStatus.Message += ". " + v.WayOut(namespace, ds)
	return err
}

// WayOut is the sentence that tells a denied author what an admin can do:
// the policy's exemptions[] entry that admits ds alone from exactly the
// denying rules, on one line.
func (v *Verdict) WayOut(namespace string, ds *appsv1.DaemonSet) string {
	rules := v.DeniedRules()
	e := NarrowestExemption(ds, namespace, rules)
	if e == nil {
		return fmt.Sprintf("An admin cannot exempt this DaemonSet alone from %s: %s (%s)", strings.Join(rules, ", "), NoExemptionReason(namespace), ExemptionsURL)
	}
	what := "this DaemonSet alone"
	if len(e.DaemonSets) == 0 {
		what = "this DaemonSet (by its labels: its name is generated)"
	}
	e.Reason = ""
	return fmt.Sprintf("An admin can exempt %s from %s with this entry, and a reason, in the policy's exemptions: %s (%s; `daemonguard check` prints it too)",
		what, strings.Join(rules, ", "), Flow(e), ExemptionsURL)
}

// AllowedHostPaths are the validation.allowedHostPaths entries that would
// make the host paths of the denying findings known safe, each once: the
// admin's way out when nothing on their nodes uses those paths.
func (v *Verdict) AllowedHostPaths() []config.AllowedHostPath {
	var out []config.AllowedHostPath
	for _, x := range v.Violations {
		if x.Action == Deny && x.AllowHostPath != nil && !slices.Contains(out, *x.AllowHostPath) {
			out = append(out, *x.AllowHostPath)
		}
	}
	return out
}

// Warnings returns the warning findings as the lines kubectl prints.
func (v *Verdict) Warnings() []string {
	var out []string
	for _, x := range v.Violations {
		if x.Action == Warn {
			out = append(out, fmt.Sprintf("[%s] %s: %s", x.Rule, x.Field, x.Message))
		}
	}
	return out
}

// Validate runs every enabled rule that ds is not exempt from. With old set
// (an UPDATE), an enforced finding that old already had is demoted to a
// warning, so a DaemonSet admitted before a rule existed can still roll out an
// image bump; anything new is denied. An UPDATE that changes neither the pod
// template nor the update strategy does not run the rules that read the
// cluster (validators.Meta.ReadsCluster).
func (p *Policy) Validate(ctx context.Context, namespace string, old, ds *appsv1.DaemonSet) Verdict {
	if old == nil {
		return p.ValidateUpdate(ctx, namespace, nil, ds)
	}
	return p.ValidateUpdate(ctx, namespace, decoded{old}, ds)
}

// Previous is the object an UPDATE replaces, asked for only when a rule
// needs it: the webhook then decodes it, and most UPDATEs need nothing of it.
type Previous interface {
	// DaemonSet is the old object; nil when it cannot be read, and then
	// nothing is excused.
	DaemonSet() *appsv1.DaemonSet
	// TemplateUnchanged reports whether ds has the old object's pod
	// template and update strategy (validators.TemplateUnchanged).
	TemplateUnchanged(ds *appsv1.DaemonSet) bool
}

// decoded is a Previous already decoded.
type decoded struct{ old *appsv1.DaemonSet }

func (d decoded) DaemonSet() *appsv1.DaemonSet { return d.old }
func (d decoded) TemplateUnchanged(ds *appsv1.DaemonSet) bool {
	return validators.TemplateUnchanged(d.old, ds)
}

// ValidateUpdate is Validate with the old object of an UPDATE given as a
// Previous (nil for a CREATE).
func (p *Policy) ValidateUpdate(ctx context.Context, namespace string, old Previous, ds *appsv1.DaemonSet) Verdict {
	var v Verdict
	target := validators.NewTarget(ds)
	// What the old object granted is found once, and only for an UPDATE
	// with an enforced finding to excuse.
	var before *granted
	// Whether the template changed is asked once, and only of an UPDATE
	// with a rule that reads the cluster: it costs a deep comparison.
	var unchanged *bool
	for _, r := range p.rules {
		if e := p.exemptionFor(r.meta.ID, namespace, ds); e != nil {
			v.Exempted = noteExempted(v.Exempted, e)
			continue
		}
		if r.meta.ReadsCluster && old != nil {
			if unchanged == nil {
				u := old.TemplateUnchanged(ds)
				unchanged = &u
			}
			if *unchanged {
				continue
			}
		}
		errs := r.Validate(ctx, target)
		if len(errs) == 0 {
			continue
		}
		if old != nil && r.action == config.Enforce && before == nil {
			before = p.grantedBy(ctx, namespace, old.DaemonSet())
		}
		for _, e := range errs {
			x := Violation{Rule: r.meta.ID, Action: actionOf(r.action), Field: e.Field, Message: e.Detail}
			if g, ok := e.BadValue.(*validators.Grant); ok && g.Allow != nil {
				x.AllowHostPath = &config.AllowedHostPath{PathPrefix: g.Allow.PathPrefix, ReadOnly: g.Allow.ReadOnly}
			}
			if r.action == config.Enforce && before.excuses(r.meta.ID, e) {
				x.Action, x.Ratcheted = Warn, true
				x.Message += " (already present before this update; fix it before it becomes a denial)"
			}
			v.Violations = append(v.Violations, x)
		}
	}
	return v
}

// granted is what an old object's findings granted, for ratcheting.
type granted struct {
	// grants are the host access of its path findings, of every rule: an
	// access is what it is, whichever rule judged it.
	grants []*validators.Grant
	// keys count its other findings by ratchet key (or Detail).
	keys map[string]int
}

// grantedBy runs every rule, whatever its action, over the old object of an
// UPDATE, as the DaemonSet stood before it.
func (p *Policy) grantedBy(ctx context.Context, namespace string, old *appsv1.DaemonSet) *granted {
	g := &granted{keys: map[string]int{}}
	if old == nil {
		return g
	}
	target := validators.NewTarget(old)
	for _, r := range p.rules {
		if p.exempt(r.meta.ID, namespace, old) {
			continue
		}
		for _, e := range r.Validate(ctx, target) {
			if grant, ok := e.BadValue.(*validators.Grant); ok {
				g.grants = append(g.grants, grant)
				continue
			}
			g.keys[r.meta.ID+"\x00"+ratchetKey(e)]++
		}
	}
	return g
}

// excuses reports whether e was already granted: a host access within one
// the old object had, or the same other finding (each old one excuses at
// most one new one, so a second copy of a capability is new).
func (g *granted) excuses(rule string, e *field.Error) bool {
	if g == nil {
		return false
	}
	if grant, ok := e.BadValue.(*validators.Grant); ok {
		for _, old := range g.grants {
			if old.Covers(grant) {
				return true
			}
		}
		return false
	}
	k := rule + "\x00" + ratchetKey(e)
	if g.keys[k] > 0 {
		g.keys[k]--
		return true
	}
	return false
}

// ratchetKey identifies a finding that is not a host access across an
// UPDATE: the rule's key in BadValue when it set one, else the Detail.
// Neither carries list indices, so a finding that only moved (a container
// reordered) still matches.
func ratchetKey(e *field.Error) string {
	if k, ok := e.BadValue.(string); ok && k != "" {
		return "key:" + k
	}
	return "detail:" + e.Detail
}

// actionOf is what a finding of a rule at action a does to the request.
func actionOf(a config.Action) string {
	switch a {
	case config.Enforce:
		return Deny
	case config.Warn:
		return Warn
	default:
		return Audit
	}
}
