package policy

import (
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/mutators"
	"github.com/daemonguard/daemonguard/validators"
)

// crossCheck validates what a policy file names against the registries: rule
// ids in validation.rules, rule ids and mutator names in exemptions, and
// default tolerations the DaemonSet controller manages itself.
func crossCheck(cfg *config.Policy, registry []validators.Definition) field.ErrorList {
	var errs field.ErrorList
	ids := sets.New[string]()
	for _, d := range registry {
		ids.Insert(d.ID)
	}
	rules := field.NewPath("validation", "rules")
	for _, id := range slices.Sorted(maps.Keys(cfg.Validation.Rules)) {
		if !ids.Has(id) {
			errs = append(errs, field.NotSupported(rules.Key(id), id, sets.List(ids)))
		}
	}
	names := ids.Clone()
	for _, d := range mutators.Registry() {
		names.Insert(d.Name)
	}
	for i := range cfg.Exemptions {
		for j, r := range cfg.Exemptions[i].Rules {
			if !names.Has(r) {
				errs = append(errs, field.NotSupported(field.NewPath("exemptions").Index(i).Child("rules").Index(j), r, sets.List(names)))
			}
		}
	}
	defaults := field.NewPath("mutation", "tolerations", "defaults")
	for i, t := range cfg.Mutation.Tolerations.Defaults {
		if validators.ControllerManagedTaint(t.Key) {
			errs = append(errs, field.Forbidden(defaults.Index(i).Child("key"), fmt.Sprintf(
				"%s is tolerated by the DaemonSet controller itself on every daemon pod, overwriting a template toleration with the same key (and its tolerationSeconds); injecting it changes nothing but the template", t.Key)))
		}
	}
	return errs
}
