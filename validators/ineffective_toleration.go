package validators

import (
	"context"

	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// controllerNoExecuteTaints are the NoExecute taints the DaemonSet controller
// tolerates forever on every daemon pod, overwriting a template toleration
// with the same key, operator and effect.
var controllerNoExecuteTaints = [...]string{
	"node.kubernetes.io/not-ready",
	"node.kubernetes.io/unreachable",
}

// controllerNoScheduleTaints are the NoSchedule taints the DaemonSet
// controller tolerates on every daemon pod (network-unavailable only for
// hostNetwork pods).
var controllerNoScheduleTaints = [...]string{
	"node.kubernetes.io/disk-pressure",
	"node.kubernetes.io/memory-pressure",
	"node.kubernetes.io/pid-pressure",
	"node.kubernetes.io/unschedulable",
	"node.kubernetes.io/network-unavailable",
}

// ControllerManagedTaint reports whether the DaemonSet controller tolerates
// the taint key itself on every daemon pod, overwriting a template toleration
// of it.
func ControllerManagedTaint(key string) bool {
	return slices.Contains(controllerNoExecuteTaints[:], key) || slices.Contains(controllerNoScheduleTaints[:], key)
}

// ineffectiveToleration flags template tolerations whose tolerationSeconds
// cannot take effect. The DaemonSet controller adds its own not-ready and
// unreachable NoExecute tolerations (operator Exists, no seconds) to every
// daemon pod, and replaces in place a template toleration only when
// MatchToleration is true: key, operator, value and effect equal as
// strings (k8s pkg/apis/core/v1/helper AddOrUpdateTolerationInPodSpec). So
// exactly `key: not-ready|unreachable, operator: Exists, effect: NoExecute`
// loses its seconds; `operator: Equal` (or omitted) and an empty-key
// Exists keep theirs, since they are not replaced and come first. The API
// server accepts all of them silently.
type ineffectiveToleration struct{}

func defineIneffectiveToleration() Definition {
	return Definition{
		Meta: Meta{
			ID:           "ineffective-toleration",
			Default:      config.Warn,
			Summary:      "a template toleration `key: node.kubernetes.io/not-ready` or `unreachable`, `operator: Exists`, `effect: NoExecute` with `tolerationSeconds`: the DaemonSet controller replaces exactly that toleration with its own, without seconds (`operator: Equal` and an empty-key `Exists` keep theirs and are not flagged)",
			Why:          "the pods never leave a failed node, whatever the template says",
			Reads:        []string{"spec.template.spec.tolerations"},
			Precondition: tolerationSecondsCondition,
		},
		New: func(Options) Rule { return ineffectiveToleration{} },
	}
}

// tolerationSecondsCondition: some toleration bounds its time.
var tolerationSecondsCondition = precondition.Atom("a toleration with `tolerationSeconds`", precondition.AnyIn(precondition.Spec, "tolerations", "t", "has(t.tolerationSeconds)"))

func (ineffectiveToleration) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.DaemonSet.Spec.Template.Spec.Tolerations {
		tol := &t.DaemonSet.Spec.Template.Spec.Tolerations[i]
		if tol.TolerationSeconds == nil || tol.Operator != corev1.TolerationOpExists || tol.Effect != corev1.TaintEffectNoExecute || tol.Value != "" {
			continue
		}
		if !slices.Contains(controllerNoExecuteTaints[:], tol.Key) {
			continue
		}
		errs = append(errs, forbidden(field.NewPath("spec", "template", "spec", "tolerations").Index(i).Child("tolerationSeconds"),
			fmt.Sprintf("tolerationSeconds: %d is ignored for %s: the DaemonSet controller replaces this exact toleration (Exists, NoExecute) with its own, which has none, so these pods never leave a failed node; write operator: Equal to keep tolerationSeconds, or remove it",
				*tol.TolerationSeconds, tol.Key), fmt.Sprintf("%s Exists NoExecute %d", tol.Key, *tol.TolerationSeconds)))
	}
	return errs
}
