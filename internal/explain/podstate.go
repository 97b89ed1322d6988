package explain

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// podReady is the pod's Ready condition.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// notReadyCause says why a bound pod is not ready, from its container
// states, for grouping ("CrashLoopBackOff", "ImagePullBackOff", "readiness
// probe failing"), with a detail naming the container, its restarts and
// last exit. container is the container to read logs of, if any.
func notReadyCause(p *corev1.Pod) (cause, detail, container string) {
	if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		cause = "pod " + string(p.Status.Phase)
		if p.Status.Reason != "" {
			cause += ": " + p.Status.Reason
		}
		detail = fmt.Sprintf("pod %s %s", p.Name, strings.ToLower(string(p.Status.Phase)))
		if p.Status.Message != "" {
			detail += ": " + p.Status.Message
		}
		return cause, detail + "; the controller deletes it and creates another (with a backoff)", ""
	}
	specs := map[string]*corev1.Container{}
	for i := range p.Spec.InitContainers {
		specs[p.Spec.InitContainers[i].Name] = &p.Spec.InitContainers[i]
	}
	for i := range p.Spec.Containers {
		specs[p.Spec.Containers[i].Name] = &p.Spec.Containers[i]
	}
	// Init containers first: the others do not start before them.
	for _, group := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range group {
			cs := &group[i]
			if cause, detail, ok := containerCause(p, cs, specs[cs.Name]); ok {
				return cause, detail, cs.Name
			}
		}
	}
	if len(p.Status.ContainerStatuses) == 0 {
		return "not started", fmt.Sprintf("pod %s is bound to the node and its kubelet has not reported any container yet (phase %s)", p.Name, phase(p)), ""
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
			if c.Reason == "" && c.Message == "" {
				// The kubelet always gives a reason; the node lifecycle
				// controller, marking the pods of a node that fell
				// silent, does not.
				return "marked not ready", fmt.Sprintf("pod %s is marked Ready=%s without a reason though its containers report ready: the node lifecycle controller does so when the node stops reporting", p.Name, c.Status), ""
			}
			msg := c.Reason
			if c.Message != "" {
				msg += ": " + c.Message
			}
			return "not ready", fmt.Sprintf("pod %s: Ready=%s (%s)", p.Name, c.Status, msg), ""
		}
	}
	return "not ready", fmt.Sprintf("pod %s is not ready", p.Name), ""
}

// containerCause is the cause for one container that keeps its pod from
// being ready; ok is false when the container is fine.
func containerCause(p *corev1.Pod, cs *corev1.ContainerStatus, spec *corev1.Container) (cause, detail string, ok bool) {
	restartable := spec != nil && spec.RestartPolicy != nil && *spec.RestartPolicy == corev1.ContainerRestartPolicyAlways
	init := isInit(p, cs.Name)
	switch {
	case cs.State.Waiting != nil:
		w := cs.State.Waiting
		cause = w.Reason
		if cause == "" {
			cause = "waiting"
		}
		detail = fmt.Sprintf("pod %s container %s: %s", p.Name, cs.Name, cause)
		if w.Message != "" {
			detail += ": " + w.Message
		}
		detail += restarts(cs)
		return cause, detail, true
	case cs.State.Terminated != nil:
		if init && !restartable && cs.State.Terminated.ExitCode == 0 {
			return "", "", false // a finished init container
		}
		t := cs.State.Terminated
		cause = "terminated"
		if t.Reason != "" {
			cause = t.Reason
		}
		detail = fmt.Sprintf("pod %s container %s terminated: exit code %d", p.Name, cs.Name, t.ExitCode)
		if t.Message != "" {
			detail += ": " + t.Message
		}
		return cause, detail + restarts(cs), true
	case cs.State.Running != nil && !cs.Ready && (!init || restartable):
		if cs.Started != nil && !*cs.Started && spec != nil && spec.StartupProbe != nil {
			return "startup probe not passed", fmt.Sprintf("pod %s container %s is running; its startup probe has not passed yet (%s)", p.Name, cs.Name, probeString(spec.StartupProbe)) + restarts(cs), true
		}
		if spec != nil && spec.ReadinessProbe != nil {
			return "readiness probe failing", fmt.Sprintf("pod %s container %s is running; its readiness probe fails (%s)", p.Name, cs.Name, probeString(spec.ReadinessProbe)) + restarts(cs), true
		}
		return "not ready", fmt.Sprintf("pod %s container %s is running but not ready", p.Name, cs.Name) + restarts(cs), true
	case cs.State.Running == nil && cs.State.Terminated == nil && cs.State.Waiting == nil && !cs.Ready:
		return "not started", fmt.Sprintf("pod %s container %s has no state yet", p.Name, cs.Name), true
	}
	return "", "", false
}

func isInit(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// restarts says how often the container restarted and how it last ended.
func restarts(cs *corev1.ContainerStatus) string {
	if cs.RestartCount == 0 {
		return ""
	}
	s := fmt.Sprintf("; restarted %d times", cs.RestartCount)
	if t := cs.LastTerminationState.Terminated; t != nil {
		s += fmt.Sprintf(", last exit code %d", t.ExitCode)
		if t.Reason != "" {
			s += " (" + t.Reason + ")"
		}
	}
	return s
}

func probeString(p *corev1.Probe) string {
	switch {
	case p.HTTPGet != nil:
		return fmt.Sprintf("GET %s on port %s", p.HTTPGet.Path, p.HTTPGet.Port.String())
	case p.TCPSocket != nil:
		return "TCP port " + p.TCPSocket.Port.String()
	case p.GRPC != nil:
		return fmt.Sprintf("gRPC port %d", p.GRPC.Port)
	case p.Exec != nil:
		return "exec " + strings.Join(p.Exec.Command, " ")
	}
	return "probe"
}

func phase(p *corev1.Pod) string {
	if p.Status.Phase == "" {
		return "unknown"
	}
	return string(p.Status.Phase)
}
