package validators

import (
	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/validators/nodes"
)

func defineMatchesNoNode() Definition {
	return Definition{
		Meta: Meta{
			ID:           "matches-no-node",
			Default:      config.Warn,
			Summary:      "the node selector, required node affinity, nodeName or untolerated taints leave no node at all (needs a node view)",
			Why:          "the DaemonSet is accepted and runs nowhere, with no error anywhere",
			Reads:        []string{"spec.template.spec.nodeSelector", "spec.template.spec.affinity", "spec.template.spec.nodeName", "spec.template.spec.tolerations"},
			Precondition: precondition.Always,
			ReadsCluster: true,
		},
		New: func(o Options) Rule {
			return nodeCheck{check: nodes.CheckMatchesNoNode, list: o.Nodes, memo: o.NodeReviews}
		},
	}
}
