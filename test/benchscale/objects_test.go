package benchscale

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/daemonguard/daemonguard/test/internal/controlplane"
	"github.com/daemonguard/daemonguard/test/internal/fanout"
	"github.com/daemonguard/daemonguard/test/internal/sim"
)

// webhookConfigurationName is the name of both shipped webhook
// configurations.
const webhookConfigurationName = "daemonguard"

// The policy: the defaults; changedPolicy moves every warning rule the
// DaemonSets hit to audit, so that every Report's results change;
// samePolicy is policy with a comment changed: a reload of the same policy.
const (
	policy        = "apiVersion: daemonguard.io/v1alpha1\nkind: Policy\n"
	samePolicy    = policy + "# reloaded\n"
	changedPolicy = policy + "validation:\n  rules:\n    node-coverage: audit\n    does-not-fit: audit\n"
)

// kwokNode is n as kwok's node-initialize stage leaves it once Ready, and
// as the node lifecycle controller leaves it then (no not-ready taint):
// the five conditions, both addresses, the kubelet endpoint, kwok's node
// info. No Lease: leases are off.
func kwokNode(n *corev1.Node, now metav1.Time) *corev1.Node {
	n = n.DeepCopy()
	conditions := []struct {
		t              corev1.NodeConditionType
		status         corev1.ConditionStatus
		reason, detail string
	}{
		{corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"},
		{corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
		{corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
		{corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
		{corev1.NodeNetworkUnavailable, corev1.ConditionFalse, "RouteCreated", "RouteController created a route"},
	}
	for _, c := range conditions {
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: c.t, Status: c.status, Reason: c.reason, Message: c.detail,
			LastHeartbeatTime: now, LastTransitionTime: now})
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.32.0.1"}, {Type: corev1.NodeHostName, Address: n.Name}}
	n.Status.DaemonEndpoints = corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}}
	n.Status.Phase = corev1.NodeRunning
	const kwok = "kwok-v0.8.0"
	n.Status.NodeInfo = corev1.NodeSystemInfo{Architecture: "amd64", OperatingSystem: "linux",
		ContainerRuntimeVersion: kwok, KernelVersion: kwok, KubeletVersion: kwok}
	return n
}

// writeNodes creates count nodes of the simulated cluster's shapes, Ready,
// 16 at a time: the create (the status with it, as a kubelet registers),
// then the update that drops the not-ready taint TaintNodesByCondition
// added.
func writeNodes(ctx context.Context, cs kubernetes.Interface, count int) error {
	list := sim.Nodes(sim.Shapes(), count)
	now := metav1.Now()
	return fanout.Do(len(list), 16, func(i int) error {
		n, err := cs.CoreV1().Nodes().Create(ctx, kwokNode(list[i], now), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating node %s: %w", list[i].Name, err)
		}
		var taints []corev1.Taint
		for _, t := range n.Spec.Taints {
			if t.Key != corev1.TaintNodeNotReady {
				taints = append(taints, t)
			}
		}
		if len(taints) == len(n.Spec.Taints) {
			return nil
		}
		n.Spec.Taints = taints
		_, err = cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

// daemonSet is the i-th bench DaemonSet in namespace: four kinds of node
// agent in turn, so that the node-aware rules find what they find in real
// clusters: one that leaves out the tainted GPU pool (node-coverage), one
// that asks for more CPU than the small pool has (does-not-fit), one kept
// to the large pool by a nodeSelector, and one that tolerates every taint
// (nothing to say). None has a PriorityClass or requests: the mutating
// webhook fills them in.
func daemonSet(namespace string, i int) *appsv1.DaemonSet {
	name := fmt.Sprintf("agent-%04d", i)
	labels := map[string]string{"app": name}
	spec := corev1.PodSpec{
		Tolerations: []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		Containers: []corev1.Container{{Name: "agent", Image: "registry.example/agent:1.0",
			VolumeMounts: []corev1.VolumeMount{{Name: "logs", MountPath: "/var/log", ReadOnly: true}}}},
		Volumes: []corev1.Volume{{Name: "logs", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}}},
	}
	switch i % 4 {
	case 1:
		spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3"), corev1.ResourceMemory: resource.MustParse("256Mi")}
	case 2:
		spec.NodeSelector = map[string]string{sim.PoolLabel: "large"}
	case 3:
		spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromString("10%"))}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
}

// registerWebhooks installs the shipped webhook configurations with only
// their client config pointed at serve, and waits until a dry-run create
// comes back mutated.
func registerWebhooks(ctx context.Context, cs kubernetes.Interface, addrs *serveAddrs) error {
	m, v, err := controlplane.WebhookConfigurations()
	if err != nil {
		return err
	}
	for i := range m.Webhooks {
		controlplane.PointAt(&m.Webhooks[i].ClientConfig, addrs.hookURL())
		m.Webhooks[i].ClientConfig.CABundle = addrs.caPEM
	}
	for i := range v.Webhooks {
		controlplane.PointAt(&v.Webhooks[i].ClientConfig, addrs.hookURL())
		v.Webhooks[i].ClientConfig.CABundle = addrs.caPEM
	}
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, m, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, v, metav1.CreateOptions{}); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		ds, err := cs.AppsV1().DaemonSets("default").Create(ctx, controlplane.Probe("default"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil && ds.Spec.Template.Spec.PriorityClassName != "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemonguard did not mutate a DaemonSet within a minute (last error: %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
