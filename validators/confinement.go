package validators

import (
	corev1 "k8s.io/api/core/v1"
)

// apparmorAnnotationPrefix is the legacy per-container AppArmor annotation
// on the pod template; the API server copies it into the field on create.
const apparmorAnnotationPrefix = "container.apparmor.security.beta.kubernetes.io/"

// unconfined says how a container runs without the runtime's default
// confinement ("AppArmor Unconfined", "SELinux type spc_t"), or "". Every
// place that can say so counts: the container's appArmorProfile, the
// pod's, the legacy annotation (the API server rejects a mismatch between
// annotation and field, so reading any is reading all), the container's or
// the pod's seLinuxOptions.type spc_t (the unconfined container type).
func unconfined(t *Target, c *containerRef) string {
	spec := &t.DaemonSet.Spec.Template.Spec
	pod := spec.SecurityContext
	if sc := c.security; sc != nil && sc.AppArmorProfile != nil {
		if sc.AppArmorProfile.Type == corev1.AppArmorProfileTypeUnconfined {
			return "AppArmor Unconfined"
		}
	} else if pod != nil && pod.AppArmorProfile != nil && pod.AppArmorProfile.Type == corev1.AppArmorProfileTypeUnconfined {
		return "AppArmor Unconfined"
	}
	if t.DaemonSet.Spec.Template.Annotations[apparmorAnnotationPrefix+c.name] == corev1.DeprecatedAppArmorBetaProfileNameUnconfined {
		return "AppArmor Unconfined"
	}
	if sc := c.security; sc != nil && sc.SELinuxOptions != nil && sc.SELinuxOptions.Type != "" {
		if sc.SELinuxOptions.Type == "spc_t" {
			return "SELinux type spc_t"
		}
	} else if pod != nil && pod.SELinuxOptions != nil && pod.SELinuxOptions.Type == "spc_t" {
		return "SELinux type spc_t"
	}
	return ""
}
