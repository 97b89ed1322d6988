package validators

import (
	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/validators/nodes"
)

func defineNodeCoverage() Definition {
	return Definition{
		Meta: Meta{
			ID:           "node-coverage",
			Default:      config.Warn,
			Summary:      "some nodes get no daemon pod: their taints are not tolerated, or the node selector or affinity leaves them out (needs a node view: the webhook's node cache, or `check --nodes`)",
			Why:          "an agent silently missing from the control-plane nodes or a node pool is found only when something there goes wrong",
			Reads:        []string{"spec.template.spec.tolerations", "spec.template.spec.nodeSelector", "spec.template.spec.affinity", "spec.template.spec.nodeName", "spec.template.spec.hostNetwork"},
			Precondition: precondition.Always,
			ReadsCluster: true,
		},
		New: func(o Options) Rule { return nodeCheck{check: nodes.CheckCoverage, list: o.Nodes, memo: o.NodeReviews} },
	}
}
