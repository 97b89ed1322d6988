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
}

// Verdict is the outcome of validating one DaemonSet.
type Verdict struct {
	Violations []Violation
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

// Status is the 422 Invalid error of a denial of the DaemonSet called name:
// one cause per denying finding, and a closing sentence pointing to the
// admin's way out, so a denied author knows whom to ask and for what.
func (v *Verdict) Status(name string) *apierrors.StatusError {
	err := apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "DaemonSet"}, name, v.Denials())
	err.ErrStatus.Message += fmt.Sprintf(". An admin can exempt this DaemonSet from %s: `daemonguard check` prints the exemptions[] entry (%s)",
		strings.Join(v.DeniedRules(), ", "), ExemptionsURL)
	return err
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
	var v Verdict
	target := validators.NewTarget(ds)
	var oldTarget *validators.Target
	// Whether the template changed is asked once, and only of an UPDATE
	// with a rule that reads the cluster: it costs a deep comparison.
	var unchanged *bool
	for _, r := range p.rules {
		if p.exempt(r.meta.ID, namespace, ds) {
			continue
		}
		if r.meta.ReadsCluster && old != nil {
			if unchanged == nil {
				u := validators.TemplateUnchanged(old, ds)
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
		var before map[string]int
		if old != nil && r.action == config.Enforce {
			if oldTarget == nil {
				oldTarget = validators.NewTarget(old)
			}
			before = countKeys(r.Validate(ctx, oldTarget))
		}
		for _, e := range errs {
			x := Violation{Rule: r.meta.ID, Action: actionOf(r.action), Field: e.Field, Message: e.Detail}
			// A finding is the old one when it grants the same resolved
			// access (its ratchet key; its Detail when the rule gives
			// none). Neither carries list indices, so a finding that only
			// moved (a container reordered) still matches; the key leaves
			// out volume names and mount paths, so renaming or moving a
			// mount does too, while a wider path does not. Each old
			// finding excuses at most one new one.
			if k := ratchetKey(e); before[k] > 0 {
				before[k]--
				x.Action, x.Ratcheted = Warn, true
				x.Message += " (already present before this update; fix it before it becomes a denial)"
			}
			v.Violations = append(v.Violations, x)
		}
	}
	return v
}

func countKeys(errs field.ErrorList) map[string]int {
	m := make(map[string]int, len(errs))
	for _, e := range errs {
		m[ratchetKey(e)]++
	}
	return m
}

// ratchetKey is what identifies a finding across an UPDATE: the rule's
// ratchet key in BadValue when it set one, else the Detail.
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
