package explain

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// group is the nodes that share a reason and a cause.
type group struct {
	reason Reason
	cause  string
	nodes  []*Node
}

// groups orders the report's nodes by reason (the order of Reasons), then
// by cause, largest group first.
func groups(r *Report) []group {
	index := map[[2]string]int{}
	var out []group
	for i := range r.Nodes {
		n := &r.Nodes[i]
		key := [2]string{string(n.Reason), n.Cause}
		j, ok := index[key]
		if !ok {
			j = len(out)
			index[key] = j
			out = append(out, group{reason: n.Reason, cause: n.Cause})
		}
		out[j].nodes = append(out[j].nodes, n)
	}
	rank := map[Reason]int{}
	for i, reason := range Reasons() {
		rank[reason] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].reason != out[j].reason {
			return rank[out[i].reason] < rank[out[j].reason]
		}
		return len(out[i].nodes) > len(out[j].nodes)
	})
	return out
}

// summary is the first line: how many of the nodes it is meant for run it,
// the problems, then the nodes it is not meant for.
func summary(r *Report) string {
	var b strings.Builder
	switch {
	case r.Desired == 0:
		// Nothing to miss, so exit status 0; but say it plainly: the
		// admission check matches-no-node warns of exactly this.
		fmt.Fprintf(&b, "runs nowhere: it is meant for none of the %s", plural(r.NodeCount, "node", "nodes"))
	case r.Running == r.Desired:
		fmt.Fprintf(&b, "runs on all %d nodes it should (%s)", r.Desired, plural(r.NodeCount, "node", "nodes"))
	default:
		fmt.Fprintf(&b, "runs on %d of %d nodes it should (%s)", r.Running, r.Desired, plural(r.NodeCount, "node", "nodes"))
	}
	var problems, excluded []string
	for _, g := range groups(r) {
		item := fmt.Sprintf("%d %s", len(g.nodes), g.reason)
		if g.cause != "" {
			item += " (" + g.cause + ")"
		}
		switch {
		case g.reason.Problem() || g.reason == Surplus:
			problems = append(problems, item)
		case g.reason.Excluded():
			excluded = append(excluded, item)
		}
	}
	for _, p := range problems {
		b.WriteString("; ")
		b.WriteString(p)
	}
	if len(excluded) > 0 {
		fmt.Fprintf(&b, "; not meant for %d: %s", r.NodeCount-r.Desired, strings.Join(excluded, ", "))
	}
	return b.String()
}

// Text output limits: per-node lines shown for a problem group, node names
// shown for the others.
const (
	detailLines = 5
	nameList    = 8
)

// WriteText writes the report for a terminal: the summary, the nodes
// grouped by reason (problems with a line per node, long lists collapsed),
// the rollout, and the command to run next.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "daemonset %s/%s: %s\n", r.DaemonSet.Namespace, r.DaemonSet.Name, r.Summary)
	for _, g := range groups(r) {
		b.WriteString("\n")
		head := string(g.reason)
		if g.cause != "" {
			head += ": " + g.cause
		}
		n := plural(len(g.nodes), "node", "nodes")
		switch {
		case g.reason.Excluded():
			n += ", not meant for them"
		case g.reason == Running:
			n += ", ready"
		}
		fmt.Fprintf(&b, "%s — %s\n", head, n)
		if (g.reason.Problem() || g.reason == Surplus) && len(g.nodes) > 1 && sameDetail(g.nodes) {
			names := make([]string, len(g.nodes))
			for i, node := range g.nodes {
				names[i] = node.Name
			}
			fmt.Fprintf(&b, "  %s\n  %s\n", collapse(names, nameList), g.nodes[0].Detail)
			continue
		}
		if g.reason.Problem() || g.reason == Surplus {
			for i, node := range g.nodes {
				if i == detailLines {
					fmt.Fprintf(&b, "  … and %d more (-o json lists every node)\n", len(g.nodes)-detailLines)
					break
				}
				fmt.Fprintf(&b, "  %s: %s\n", node.Name, node.Detail)
			}
			continue
		}
		names := make([]string, len(g.nodes))
		var cordoned, older []string
		for i, node := range g.nodes {
			names[i] = node.Name
			if g.reason == Running && node.Cordoned {
				cordoned = append(cordoned, node.Name)
			}
			if g.reason == Running && strings.Contains(node.Detail, olderRevision) {
				older = append(older, node.Name)
			}
		}
		fmt.Fprintf(&b, "  %s\n", collapse(names, nameList))
		if g.reason.Excluded() && len(g.nodes) == 1 && g.nodes[0].Detail != "" {
			fmt.Fprintf(&b, "  %s\n", g.nodes[0].Detail)
		}
		if len(cordoned) > 0 {
			fmt.Fprintf(&b, "  cordoned, still covered (the DaemonSet controller tolerates node.kubernetes.io/unschedulable): %s\n", collapse(cordoned, nameList))
		}
		if len(older) > 0 {
			fmt.Fprintf(&b, "  %s: %s\n", olderRevision, collapse(older, nameList))
		}
	}
	b.WriteString("\n")
	b.WriteString(r.Rollout.line())
	for _, why := range r.Rollout.Blocked {
		fmt.Fprintf(&b, "  blocked: %s\n", why)
	}
	if r.Next != "" {
		fmt.Fprintf(&b, "\nnext: %s\n", r.Next)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// line is the rollout's headline: strategy and budget, the status figures,
// and what is left.
func (ro Rollout) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rollout: %s", ro.Strategy)
	if ro.Strategy != "OnDelete" {
		fmt.Fprintf(&b, " (maxUnavailable %d, maxSurge %d)", ro.MaxUnavailable, ro.MaxSurge)
	}
	fmt.Fprintf(&b, ": %d updated, %d available of %d desired", ro.Updated, ro.Available, ro.Desired)
	switch {
	case ro.Complete:
		b.WriteString("; complete")
	case ro.Left > 0 && ro.Strategy != "OnDelete":
		step := ro.MaxUnavailable
		if ro.MaxSurge > 0 {
			step = ro.MaxSurge
		}
		fmt.Fprintf(&b, "; %s left, %d at a time", plural(ro.Left, "node", "nodes"), step)
	case ro.Left > 0:
		fmt.Fprintf(&b, "; %s left", plural(ro.Left, "node", "nodes"))
	default:
		b.WriteString("; in progress")
	}
	b.WriteString("\n")
	return b.String()
}

// sameDetail: every node of the group has the same detail (a FailedCreate
// event, a NotReady node's state), which is then said once.
func sameDetail(nodes []*Node) bool {
	for _, n := range nodes[1:] {
		if n.Detail != nodes[0].Detail {
			return false
		}
	}
	return true
}
