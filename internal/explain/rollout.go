package explain

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// rollout: the status figures, the strategy's budget, what is left and what
// blocks it.
func (a *analysis) rollout(r *Report) Rollout {
	ds := a.in.DaemonSet
	st := ds.Status
	ro := Rollout{
		Strategy:   string(ds.Spec.UpdateStrategy.Type),
		Generation: ds.Generation, ObservedGeneration: st.ObservedGeneration,
		Revision: a.revision,
		Desired:  st.DesiredNumberScheduled, Updated: st.UpdatedNumberScheduled,
		Available: st.NumberAvailable, Ready: st.NumberReady,
	}
	if ro.Strategy == "" {
		ro.Strategy = string(appsv1.RollingUpdateDaemonSetStrategyType)
	}
	if ro.Strategy == string(appsv1.RollingUpdateDaemonSetStrategyType) {
		if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil {
			ro.MaxSurge = scaled(ru.MaxSurge, a.controllerDesired)
			ro.MaxUnavailable = scaled(ru.MaxUnavailable, a.controllerDesired)
		} else {
			ro.MaxUnavailable = 1 // the API server's default
		}
		if a.controllerDesired > 0 && ro.MaxSurge == 0 && ro.MaxUnavailable == 0 {
			ro.MaxUnavailable = 1 // what the controller does with an impossible budget
		}
	}
	pods := a.byNode
	var surgeStuck, pendingNew, notReadyNew []string
	var pendingCauses, notReadyCauses []string
	for _, n := range r.Nodes {
		if !n.ShouldRun {
			continue
		}
		done := false
		for _, p := range pods[n.Name] {
			if p.DeletionTimestamp == nil && p.Spec.NodeName != "" && podReady(p) && a.updated(p) {
				done = true
			}
		}
		if a.revision == "" {
			done = n.Runs
		}
		if !done {
			ro.Left++
		}
		for _, p := range pods[n.Name] {
			if p.DeletionTimestamp != nil || !a.updated(p) {
				continue
			}
			switch {
			case n.Reason == Pending && p.Spec.NodeName == "" && a.portOwner[n.Name]:
				surgeStuck = append(surgeStuck, n.Name)
			case n.Reason == Pending && p.Spec.NodeName == "":
				pendingNew = append(pendingNew, n.Name)
				pendingCauses = appendUnique(pendingCauses, n.Cause)
			case n.Reason == NotReady && !podReady(p):
				notReadyNew = append(notReadyNew, n.Name)
				notReadyCauses = appendUnique(notReadyCauses, n.Cause)
			}
		}
	}
	ro.Complete = ro.Left == 0 && st.ObservedGeneration >= ds.Generation
	if st.ObservedGeneration < ds.Generation {
		ro.Blocked = append(ro.Blocked, fmt.Sprintf("the DaemonSet controller has not acted on generation %d yet (status.observedGeneration %d): is kube-controller-manager running?", ds.Generation, st.ObservedGeneration))
	}
	if ro.Strategy == string(appsv1.OnDeleteDaemonSetStrategyType) && ro.Left > 0 {
		ro.Blocked = append(ro.Blocked, fmt.Sprintf("updateStrategy OnDelete: the controller replaces a pod only once you delete it; %s without a ready pod of the current revision", plural(ro.Left, "node", "nodes")))
	}
	if len(surgeStuck) > 0 {
		ro.Blocked = append(ro.Blocked, fmt.Sprintf("%s cannot be scheduled on %s: the host port is held by the previous revision's pod on the same node, so with hostPort a maxSurge > 0 rollout never progresses (kubernetes#106417)",
			plural(len(surgeStuck), "surge pod", "surge pods"), collapse(surgeStuck, 5)))
	}
	if len(pendingNew) > 0 {
		ro.Blocked = append(ro.Blocked, fmt.Sprintf("%s cannot be scheduled (%s) on %s", plural(len(pendingNew), "updated pod", "updated pods"), strings.Join(pendingCauses, "; "), collapse(pendingNew, 5)))
	}
	if len(notReadyNew) > 0 {
		budget := fmt.Sprintf("the controller replaces no more old pods while maxUnavailable (%d) of them are unavailable", ro.MaxUnavailable)
		if ro.MaxSurge > 0 {
			budget = fmt.Sprintf("the controller starts no more surge pods while maxSurge (%d) of them are not available", ro.MaxSurge)
		}
		line := fmt.Sprintf("%s not ready (%s) on %s", plural(len(notReadyNew), "updated pod is", "updated pods are"), strings.Join(notReadyCauses, "; "), collapse(notReadyNew, 5))
		if limit := max(ro.MaxUnavailable, ro.MaxSurge); len(notReadyNew) >= limit && ro.Left > len(notReadyNew) {
			line += ": " + budget
		}
		ro.Blocked = append(ro.Blocked, line)
	}
	return ro
}

func scaled(v *intstr.IntOrString, total int) int {
	if v == nil {
		return 0
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, total, true)
	if err != nil {
		return 0
	}
	return n
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
