package validators

import (
	"context"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/validators/nodes"
)

// hostPortSurge forbids host ports with a RollingUpdate maxSurge above 0:
// the surge pod needs the port the old pod still holds on the same node, so
// it never schedules and the rollout stalls (kubernetes#106417).
type hostPortSurge struct{}

func defineHostPortSurge() Definition {
	return Definition{
		Meta: Meta{
			ID:           "hostport-surge",
			Default:      config.Enforce,
			Summary:      "a container port with `hostPort` and a RollingUpdate `maxSurge` above 0",
			Why:          "the surge pod needs the host port the old pod still holds on its node, so every rollout stalls (kubernetes#106417)",
			Reads:        []string{"spec.updateStrategy", "spec.template.spec.*containers[*].ports", "spec.template.spec.hostNetwork"},
			Precondition: precondition.Or(precondition.HostNetwork, precondition.Escalates),
		},
		New: func(Options) Rule { return hostPortSurge{} },
	}
}

func (hostPortSurge) Validate(_ context.Context, t *Target) field.ErrorList {
	c := nodes.HostPortSurge(t.DaemonSet)
	if c == nil {
		return nil
	}
	// Port numbers, not their field paths: a message names no list index.
	ports := make([]string, len(c.Ports))
	for i, p := range c.Ports {
		ports[i] = strconv.Itoa(int(p.HostPort)) + "/" + string(p.Protocol)
		if p.HostNetwork {
			ports[i] += " (hostNetwork)"
		}
	}
	return field.ErrorList{forbidden(field.NewPath("spec", "updateStrategy", "rollingUpdate", "maxSurge"),
		"rollingUpdate.maxSurge "+c.MaxSurge.String()+" with host port "+strings.Join(ports, ", ")+
			": the surge pod can never be scheduled next to the old one on its node, so every rollout stalls; set maxSurge: 0 (and use maxUnavailable to pace the rollout), or drop the host port",
		"hostport-surge")}
}
