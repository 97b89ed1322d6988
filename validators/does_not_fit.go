package validators

import (
	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/validators/nodes"
)

func defineDoesNotFit() Definition {
	return Definition{
		Meta: Meta{
			ID:           "does-not-fit",
			Default:      config.Warn,
			Summary:      "the pod's requests (after mutation) exceed the allocatable of some nodes it should run on, named by pool (needs a node view)",
			Why:          "its daemon pods there stay Pending forever, and the agent is missing on exactly those nodes",
			Reads:        []string{"spec.template.spec.*containers[*].resources", "spec.template.spec.resources", "spec.template.spec.overhead"},
			Precondition: precondition.Always,
			ReadsCluster: true,
		},
		New: func(o Options) Rule {
			return nodeCheck{check: nodes.CheckDoesNotFit, list: o.Nodes, memo: o.NodeReviews}
		},
	}
}
