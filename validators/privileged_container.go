package validators

import "k8s.io/apimachinery/pkg/util/validation/field"

// privilegedContainer flags privileged containers in pods without hostPID
// (with hostPID, hostpid-privileged applies). Privileged is rarely what a node
// agent needs: a few capabilities usually do.
type privilegedContainer struct{}

func (privilegedContainer) ID() string            { return "privileged-container" }
func (privilegedContainer) DefaultAction() Action { return Warn }

func (privilegedContainer) Validate(t *Target) field.ErrorList {
	spec := &t.DaemonSet.Spec.Template.Spec
	if spec.HostPID {
		return nil
	}
	var errs field.ErrorList
	forEachContainer(spec, func(c containerRef) {
		if c.security != nil && c.security.Privileged != nil && *c.security.Privileged {
			errs = append(errs, field.Forbidden(c.field().Child("securityContext", "privileged"),
				containerKind(c.list)+" \""+c.name+"\" is privileged: it has every capability and every host device; add only the capabilities it needs"))
		}
	})
	return errs
}
