package nodes

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// HostPort is one port a daemon pod takes on its node.
type HostPort struct {
	// Field is the port's path, e.g. spec.template.spec.containers[0].ports[1].
	Field    string
	HostPort int32
	Protocol corev1.Protocol
	// HostNetwork is set when the port is taken because the pod uses the
	// host's network (the API server defaults hostPort to containerPort then).
	HostNetwork bool
}

// SurgeConflict is a RollingUpdate with maxSurge > 0 on a DaemonSet whose pods
// take host ports: the surge pod is created next to the old one on the same
// node and can never be scheduled ("didn't have free ports for the requested
// pod ports"), so the rollout never progresses (kubernetes#106417).
type SurgeConflict struct {
	// MaxSurge is the strategy's value as written.
	MaxSurge intstr.IntOrString
	Ports    []HostPort
}

// String says e.g. "rollingUpdate.maxSurge 1 with hostPort 9100/TCP
// (spec.template.spec.containers[0].ports[0]): the surge pod can never be
// scheduled next to the old one".
func (s SurgeConflict) String() string {
	ports := make([]string, len(s.Ports))
	for i, p := range s.Ports {
		ports[i] = fmt.Sprintf("%d/%s (%s)", p.HostPort, p.Protocol, p.Field)
	}
	return fmt.Sprintf("rollingUpdate.maxSurge %s with host port %s: the surge pod can never be scheduled next to the old one, so the rollout stalls",
		s.MaxSurge.String(), strings.Join(ports, ", "))
}

// HostPorts lists the host ports a daemon pod takes, as the scheduler's
// NodePorts filter sees them (util.GetHostPorts in k8s.io/kubernetes
// v1.37.2): containers and restartable (sidecar) init containers, not
// run-to-completion init containers. With hostNetwork, a container port
// without hostPort counts as its own host port (the API server defaults it so;
// this also covers objects that were not defaulted, as in `check`).
func HostPorts(spec *corev1.PodSpec) []HostPort {
	var out []HostPort
	add := func(kind string, i int, c *corev1.Container) {
		for j, p := range c.Ports {
			hp, hostNet := p.HostPort, false
			if hp == 0 && spec.HostNetwork {
				hp, hostNet = p.ContainerPort, true
			}
			if hp <= 0 {
				continue
			}
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			out = append(out, HostPort{
				Field:    fmt.Sprintf("spec.template.spec.%s[%d].ports[%d]", kind, i, j),
				HostPort: hp, Protocol: proto, HostNetwork: hostNet,
			})
		}
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add("initContainers", i, c)
		}
	}
	for i := range spec.Containers {
		add("containers", i, &spec.Containers[i])
	}
	return out
}

// SurgeCount is the controller's util.SurgeCount for one node: how many extra
// pods a RollingUpdate may create per node; 0 without surge or for an invalid
// value (the API server refuses those anyway). An empty strategy type counts
// as RollingUpdate, the API server's default, for objects not yet defaulted.
func SurgeCount(ds *appsv1.DaemonSet) int {
	if t := ds.Spec.UpdateStrategy.Type; t != "" && t != appsv1.RollingUpdateDaemonSetStrategyType {
		return 0
	}
	r := ds.Spec.UpdateStrategy.RollingUpdate
	if r == nil || r.MaxSurge == nil {
		return 0
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(r.MaxSurge, 1, true)
	if err != nil {
		return 0
	}
	return n
}

// HostPortSurge returns the conflict when ds surges (SurgeCount > 0) and its
// pods take host ports; nil otherwise.
func HostPortSurge(ds *appsv1.DaemonSet) *SurgeConflict {
	if SurgeCount(ds) <= 0 {
		return nil
	}
	ports := HostPorts(&ds.Spec.Template.Spec)
	if len(ports) == 0 {
		return nil
	}
	return &SurgeConflict{MaxSurge: *ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge, Ports: ports}
}
