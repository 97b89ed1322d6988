package validators

import (
	"context"

	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/webhook/config"
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
// cannot take effect: the DaemonSet controller tolerates not-ready and
// unreachable forever, so a pod written to leave a failed node after 300s
// stays there. The API server accepts these silently.
type ineffectiveToleration struct{}

func defineIneffectiveToleration() Definition {
	return Definition{
		Meta: Meta{
			ID:      "ineffective-toleration",
			Default: config.Warn,
			Summary: "a template toleration of `not-ready`/`unreachable` (or an empty-key `Exists` `NoExecute`) with `tolerationSeconds`, which the DaemonSet controller overrides with \"forever\"",
			Why:     "the pods never leave a failed node, whatever the template says",
			Reads:   []string{"spec.template.spec.tolerations"},
		},
		New: func(Options) Rule { return ineffectiveToleration{} },
	}
}

func (ineffectiveToleration) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.DaemonSet.Spec.Template.Spec.Tolerations {
		tol := &t.DaemonSet.Spec.Template.Spec.Tolerations[i]
		if tol.TolerationSeconds == nil || (tol.Effect != "" && tol.Effect != corev1.TaintEffectNoExecute) {
			continue
		}
		for _, key := range controllerNoExecuteTaints {
			if tol.Key != key && (tol.Key != "" || tol.Operator != corev1.TolerationOpExists) {
				continue
			}
			errs = append(errs, field.Forbidden(field.NewPath("spec", "template", "spec", "tolerations").Index(i).Child("tolerationSeconds"),
				fmt.Sprintf("tolerationSeconds: %d is ignored for %s: the DaemonSet controller tolerates it forever on every daemon pod, so these pods never leave a failed node; remove tolerationSeconds (or the toleration)",
					*tol.TolerationSeconds, key)))
			break
		}
	}
	return errs
}
