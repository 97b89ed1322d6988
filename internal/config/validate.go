package config

import (
	"fmt"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidatePolicy checks the file as written, before defaults fill the gaps;
// fldPath is where the policy sits (nil for a policy file of its own). Rule
// ids and mutator names are checked where the policy is compiled.
func ValidatePolicy(p *Policy, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p.APIVersion != APIVersion {
		errs = append(errs, field.NotSupported(fldPath.Child("apiVersion"), p.APIVersion, []string{APIVersion}))
	}
	if p.Kind != Kind {
		errs = append(errs, field.NotSupported(fldPath.Child("kind"), p.Kind, []string{Kind}))
	}
	m := fldPath.Child("mutation")
	errs = append(errs, validateTolerations(p.Mutation.Tolerations.Defaults, m.Child("tolerations", "defaults"))...)
	if n := p.Mutation.PriorityClass.Name; n != "" {
		for _, msg := range utilvalidation.IsDNS1123Subdomain(n) {
			errs = append(errs, field.Invalid(m.Child("priorityClass", "name"), n, msg))
		}
	}
	errs = append(errs, validateResources(&p.Mutation.Resources, m.Child("resources"))...)

	v := fldPath.Child("validation")
	for _, id := range sortedKeys(p.Validation.Rules) {
		if _, err := ParseAction(string(p.Validation.Rules[id])); err != nil {
			errs = append(errs, field.Invalid(v.Child("rules").Key(id), p.Validation.Rules[id], err.Error()))
		}
	}
	errs = append(errs, validateHostPaths(p.Validation.SensitiveHostPaths, v.Child("sensitiveHostPaths"))...)
	errs = append(errs, validateHostPaths(p.Validation.RuntimeSockets, v.Child("runtimeSockets"))...)
	for i, a := range p.Validation.AllowedHostPaths {
		errs = append(errs, validateAllowedHostPath(a, v.Child("allowedHostPaths").Index(i))...)
	}
	for i := range p.Exemptions {
		errs = append(errs, validateExemption(&p.Exemptions[i], fldPath.Child("exemptions").Index(i))...)
	}
	return errs
}

func validateTolerations(tols []corev1.Toleration, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range tols {
		at := fp.Index(i)
		switch t.Operator {
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(at.Child("value"), t.Value, "must be empty when operator is Exists"))
			}
		case corev1.TolerationOpEqual, "":
			if t.Key == "" {
				errs = append(errs, field.Invalid(at.Child("operator"), t.Operator, "must be Exists when key is empty"))
			}
		default:
			errs = append(errs, field.NotSupported(at.Child("operator"), t.Operator, []string{"Exists", "Equal"}))
		}
		switch t.Effect {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			errs = append(errs, field.NotSupported(at.Child("effect"), t.Effect, []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(at.Child("tolerationSeconds"), *t.TolerationSeconds, "only applies to effect NoExecute"))
		}
		if t.Key != "" {
			for _, msg := range utilvalidation.IsQualifiedName(t.Key) {
				errs = append(errs, field.Invalid(at.Child("key"), t.Key, msg))
			}
		}
		if t.Key == "" && t.Operator == corev1.TolerationOpExists {
			errs = append(errs, field.Forbidden(at,
				"a toleration of every taint would schedule every daemon onto every node, cordoned or dedicated; name the taint key"))
		}
	}
	return errs
}

func validateResources(r *ResourcesMutation, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedKeys(r.Requests) {
		q := r.Requests[name]
		at := fp.Child("requests").Key(string(name))
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(at, q.String(), "must not be negative"))
		}
		for _, msg := range utilvalidation.IsQualifiedName(string(name)) {
			errs = append(errs, field.Invalid(at, string(name), msg))
		}
	}
	errs = append(errs, validateLimitDefault(&r.MemoryLimit, fp.Child("memoryLimit"))...)
	errs = append(errs, validateLimitDefault(&r.CPULimit, fp.Child("cpuLimit"))...)
	for i, n := range r.SkipPriorityClasses {
		for _, msg := range utilvalidation.IsDNS1123Subdomain(n) {
			errs = append(errs, field.Invalid(fp.Child("skipPriorityClasses").Index(i), n, msg))
		}
	}
	return errs
}

func validateLimitDefault(l *LimitDefault, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if l.Minimum != nil && l.Minimum.Sign() <= 0 {
		errs = append(errs, field.Invalid(fp.Child("minimum"), l.Minimum.String(),
			"must be positive: it is the smallest limit injected, also for containers that request nothing"))
	}
	if l.RequestMultiplier != 0 && l.RequestMultiplier < 2 {
		errs = append(errs, field.Invalid(fp.Child("requestMultiplier"), l.RequestMultiplier,
			"must be at least 2: a limit at the request leaves an agent no headroom for a burst"))
	}
	return errs
}

func validateHostPaths(paths []string, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, p := range paths {
		if !strings.HasPrefix(p, "/") {
			errs = append(errs, field.Invalid(fp.Index(i), p, "must be an absolute path"))
		} else if path.Clean(p) != p && p != "/" {
			errs = append(errs, field.Invalid(fp.Index(i), p, fmt.Sprintf("must be written cleanly, as %q", path.Clean(p))))
		}
	}
	return errs
}

// validateAllowedHostPath accepts a clean absolute Linux path, a Windows
// path with a drive letter, or a named pipe. The root of either is refused:
// allowing everything is turning the rules off.
func validateAllowedHostPath(a AllowedHostPath, fp *field.Path) field.ErrorList {
	p := a.PathPrefix
	fp = fp.Child("pathPrefix")
	switch {
	case p == "":
		return field.ErrorList{field.Required(fp, "the host path to allow")}
	case len(p) >= 2 && p[1] == ':' || strings.HasPrefix(p, `\\`):
		if len(strings.Trim(p[2:], `\/`)) == 0 && p[1] == ':' {
			return field.ErrorList{field.Invalid(fp, p, "a drive root would allow every path on it; turn the unknown-* rules off instead")}
		}
		return nil
	case p == "/":
		return field.ErrorList{field.Invalid(fp, p, "/ would allow every path; turn the unknown-* rules off instead")}
	case !strings.HasPrefix(p, "/"):
		return field.ErrorList{field.Invalid(fp, p, "must be an absolute path")}
	case path.Clean(p) != p:
		return field.ErrorList{field.Invalid(fp, p, fmt.Sprintf("must be written cleanly, as %q", path.Clean(p)))}
	}
	return nil
}

func validateExemption(e *Exemption, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(e.Namespaces) == 0 && e.Selector == nil {
		errs = append(errs, field.Required(fp, "an exemption needs namespaces or a selector; an empty one would exempt every DaemonSet"))
	}
	for i, ns := range e.Namespaces {
		for _, msg := range utilvalidation.IsDNS1123Label(ns) {
			errs = append(errs, field.Invalid(fp.Child("namespaces").Index(i), ns, msg))
		}
	}
	for i, name := range e.DaemonSets {
		for _, msg := range utilvalidation.IsDNS1123Subdomain(name) {
			errs = append(errs, field.Invalid(fp.Child("daemonSets").Index(i), name, msg))
		}
	}
	if len(e.DaemonSets) > 0 && len(e.Namespaces) == 0 {
		// A name is only unique within a namespace: anywhere, it would
		// exempt whatever any author names that way in their own namespace.
		errs = append(errs, field.Required(fp.Child("namespaces"),
			"daemonSets names DaemonSets, which are only unique within a namespace: list the namespaces they are in (anyNamespace cannot be used with names)"))
	}
	if e.Selector != nil {
		if _, err := metav1.LabelSelectorAsSelector(e.Selector); err != nil {
			errs = append(errs, field.Invalid(fp.Child("selector"), e.Selector, err.Error()))
		} else if len(e.Selector.MatchLabels) == 0 && len(e.Selector.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(fp.Child("selector"), "{}", "an empty selector matches every DaemonSet; name labels"))
		}
		if len(e.Namespaces) == 0 && !e.AnyNamespace {
			errs = append(errs, field.Required(fp.Child("namespaces"),
				"a selector matches labels that DaemonSet authors set themselves; list the namespaces it applies in, or set anyNamespace: true to exempt matching DaemonSets everywhere"))
		}
	}
	if e.AnyNamespace && len(e.DaemonSets) > 0 {
		errs = append(errs, field.Invalid(fp.Child("anyNamespace"), true,
			"cannot be used with daemonSets: a name is only unique within a namespace, and every namespace's authors choose their own names; list the namespaces"))
	}
	if e.AnyNamespace && len(e.Namespaces) > 0 {
		errs = append(errs, field.Invalid(fp.Child("anyNamespace"), true, "contradicts namespaces; set one or the other"))
	}
	return errs
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
