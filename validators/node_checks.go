package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/validators/nodes"
)

// The node-aware rules judge what the DaemonSet controller and the scheduler
// will do with the (mutated) DaemonSet on the cluster's nodes, with the
// predicates the controller itself uses (package nodes). Each is one check of
// one shared review; without a node view they find nothing.

// nodeCheck is a rule reporting one check of nodes.Review.
type nodeCheck struct {
	check nodes.Check
	list  NodeLister
	memo  *nodes.Memo
}

func (r nodeCheck) Validate(ctx context.Context, t *Target) field.ErrorList {
	if r.list == nil {
		return nil
	}
	if !t.nodeReviewed {
		t.nodeReviewed = true
		list, err := r.list(ctx)
		if err != nil || len(list) == 0 {
			// No node view (an empty or unsynced cache, an API error):
			// these rules warn about what will happen, they never guess.
			return nil
		}
		t.nodeFindings = r.memo.Review(t.DaemonSet, list)
	}
	var errs field.ErrorList
	for _, f := range t.nodeFindings {
		if f.Check == r.check {
			// The key is the check and the field, not the node counts:
			// a cluster that grew is not new access.
			errs = append(errs, forbidden(fieldPath(f.Field), f.Message, string(f.Check)+" "+f.Field))
		}
	}
	return errs
}

// fieldPath turns a dotted field name into a field.Path.
func fieldPath(dotted string) *field.Path {
	var p *field.Path
	start := 0
	for i := 0; i <= len(dotted); i++ {
		if i == len(dotted) || dotted[i] == '.' {
			if p == nil {
				p = field.NewPath(dotted[start:i])
			} else {
				p = p.Child(dotted[start:i])
			}
			start = i + 1
		}
	}
	return p
}
