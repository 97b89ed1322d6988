package explain

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/daemonguard/daemonguard/internal/policy"
)

// failedCreate is the DaemonSet controller's latest failure to create a pod,
// from its FailedCreate events.
type failedCreate struct {
	// cause is the API server's reason, without the pod name, so that events
	// about different pods group together.
	cause string
	// hint is the command that fixes or examines it.
	hint string
	// count sums the events' counts; last is the newest one's time.
	count int32
	last  time.Time
}

var (
	forbiddenPod  = regexp.MustCompile(`^pods "[^"]*" is forbidden: `)
	lookupAccount = regexp.MustCompile(`^error looking up service account [^:]*: `)
	missingClass  = regexp.MustCompile(`no PriorityClass with name (\S+) was found`)
	missingSA     = regexp.MustCompile(`serviceaccount "([^"]+)" not found`)
	quota         = regexp.MustCompile(`exceeded quota: ([^,]+), requested: (.*?), used: .*?, limited: (.*)$`)
	webhookDenial = regexp.MustCompile(`admission webhook "([^"]+)" denied the request`)
)

// latestFailedCreate finds the newest FailedCreate event and sums the counts
// of the events with the same cause. injected is the DaemonSet's
// daemonguard.io/injected annotation (the fields daemonguard's mutating
// webhook filled in), so that a failure caused by an injected field says so.
func latestFailedCreate(events []corev1.Event, ns, injected string) *failedCreate {
	var latest *corev1.Event
	var latestAt time.Time
	for i := range events {
		e := &events[i]
		if e.Reason != "FailedCreate" {
			continue
		}
		if at := eventTime(e); latest == nil || at.After(latestAt) {
			latest, latestAt = e, at
		}
	}
	if latest == nil {
		return nil
	}
	cause := failureCause(latest.Message)
	out := &failedCreate{cause: cause, last: latestAt}
	for i := range events {
		e := &events[i]
		if e.Reason == "FailedCreate" && failureCause(e.Message) == cause {
			out.count += max(e.Count, 1)
		}
	}
	out.cause, out.hint = explainFailure(cause, ns, injected)
	return out
}

// failureCause strips what differs between FailedCreate events of one cause:
// the event aggregator's prefix, "Error creating: ", the generated pod name.
func failureCause(msg string) string {
	msg = strings.TrimPrefix(msg, "(combined from similar events): ")
	msg = strings.TrimPrefix(msg, "Error creating: ")
	msg = forbiddenPod.ReplaceAllString(msg, "")
	msg = lookupAccount.ReplaceAllString(msg, "")
	if m := quota.FindStringSubmatch(msg); m != nil {
		// "used" changes as pods come and go.
		msg = fmt.Sprintf("exceeded quota %s: requested %s, limited %s", m[1], m[2], m[3])
	}
	return strings.TrimSpace(msg)
}

// explainFailure adds to a failure cause who is behind it when daemonguard
// is (a field its mutating webhook injected, or its own webhook denying),
// and returns the command to run next.
func explainFailure(cause, ns, injected string) (string, string) {
	injectedField := func(prefix string) bool {
		for _, f := range strings.Split(injected, ",") {
			if strings.HasPrefix(strings.TrimSpace(f), prefix) {
				return true
			}
		}
		return false
	}
	switch {
	case missingSA.MatchString(cause):
		name := missingSA.FindStringSubmatch(cause)[1]
		return cause, fmt.Sprintf("kubectl -n %s create serviceaccount %s   # or fix spec.template.spec.serviceAccountName", ns, name)
	case missingClass.MatchString(cause):
		name := missingClass.FindStringSubmatch(cause)[1]
		if injectedField("spec.template.spec.priorityClassName") {
			cause += " (daemonguard's mutating webhook injected this priorityClassName)"
		}
		return cause, fmt.Sprintf("kubectl create priorityclass %s --value=1000000   # or fix spec.template.spec.priorityClassName", name)
	case quota.MatchString(cause) || strings.HasPrefix(cause, "exceeded quota "):
		if injectedField("spec.template.spec.containers") || injectedField("spec.template.spec.initContainers") {
			cause += " (requests or limits daemonguard's mutating webhook injected count here: see the DaemonSet's " + policy.InjectedAnnotation + " annotation)"
		}
		return cause, fmt.Sprintf("kubectl -n %s describe resourcequota", ns)
	case webhookDenial.MatchString(cause):
		name := webhookDenial.FindStringSubmatch(cause)[1]
		if strings.Contains(name, "daemonguard") {
			cause += " (daemonguard's own webhook)"
		}
		return cause, fmt.Sprintf("kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations -o wide   # webhook %s", name)
	case strings.Contains(cause, "ValidatingAdmissionPolicy"):
		return cause, "kubectl get validatingadmissionpolicies,validatingadmissionpolicybindings"
	}
	return cause, ""
}

// eventTime is when an event last happened: the series' last observation,
// lastTimestamp, eventTime or firstTimestamp, whichever is set.
func eventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.FirstTimestamp.Time
}

// ago renders a duration for humans, coarsely.
func ago(d time.Duration) string {
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh ago", int(d.Hours()))
}
