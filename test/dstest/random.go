package dstest

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	"k8s.io/apimachinery/pkg/api/resource"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// RandomDaemonSets fills n DaemonSets with random values in every field (the
// API machinery's own fuzzer), then points their volumes, mounts,
// capabilities, tolerations, resources, ports and security contexts at the
// host paths, names and values the rules and mutators care about, so that
// most objects are both full of unrelated fields and hit by several rules,
// and some are hit by none. The same seed gives the same DaemonSets.
func RandomDaemonSets(tb testing.TB, seed int64, n int) []*appsv1.DaemonSet {
	tb.Helper()
	f := fuzzer.FuzzerFor(metafuzzer.Funcs, rand.NewSource(seed), serializer.NewCodecFactory(runtime.NewScheme())).
		NilChance(0.3).NumElements(0, 3).MaxDepth(12)
	g := &shaper{r: rand.New(rand.NewSource(seed + 1))}
	out := make([]*appsv1.DaemonSet, n)
	for i := range out {
		ds := &appsv1.DaemonSet{}
		f.Fill(ds)
		ds.APIVersion, ds.Kind = "apps/v1", "DaemonSet"
		g.shape(&ds.Spec.Template.Spec)
		g.strategy(&ds.Spec.UpdateStrategy)
		if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxSurge.IntValue() > 0 {
			zero := intstr.FromInt32(0) // a surge needs maxUnavailable 0
			ru.MaxUnavailable = &zero
		}
		out[i] = ds
	}
	return out
}

type shaper struct{ r *rand.Rand }

func (g *shaper) pick(s []string) string { return s[g.r.Intn(len(s))] }

// one is true once in n.
func (g *shaper) one(n int) bool { return g.r.Intn(n) == 0 }

var (
	randomPaths = []string{"/", "/etc", "/var/log", "/var/run/docker.sock", "/run/containerd", "/var/lib/kubelet/pods",
		"/proc", "/var/run/../etc", "/opt/cni/bin", "/home", "/data", "/proc/1/root/run/crio"}
	randomNames   = []string{"a", "b", "c"}
	randomCaps    = []string{"SYS_ADMIN", "sys_ptrace", "CAP_ALL", "NET_ADMIN", "BPF"}
	randomKeys    = []string{"node.kubernetes.io/not-ready", "node-role.kubernetes.io/control-plane", "", "dedicated"}
	randomClasses = []string{"", "system-node-critical", "system-cluster-critical", "infra-daemonset", "other"}
	randomEffects = []string{"", "NoSchedule", "NoExecute", "PreferNoSchedule"}
	randomOps     = []string{"", "Exists", "Equal", "Lt", "exists"}
	randomUnits   = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage}
)

func (g *shaper) shape(spec *corev1.PodSpec) {
	spec.HostPID = g.one(2)
	spec.HostNetwork = g.one(4)
	if g.one(2) {
		spec.PriorityClassName, spec.Priority = g.pick(randomClasses), nil
	}
	if !g.one(4) {
		spec.Resources = nil
	}
	if !g.one(4) && spec.SecurityContext != nil {
		spec.SecurityContext.WindowsOptions = nil
	}
	for i := range spec.Volumes {
		spec.Volumes[i].Name = randomNames[i%len(randomNames)]
		if !g.one(3) {
			spec.Volumes[i].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: g.pick(randomPaths)}}
		}
	}
	if g.one(3) {
		spec.Volumes = nil
	}
	for i := range spec.Tolerations {
		t := &spec.Tolerations[i]
		t.Key, t.Effect = g.pick(randomKeys), corev1.TaintEffect(g.pick(randomEffects))
		t.Operator, t.Value = corev1.TolerationOperator(g.pick(randomOps)), g.pick([]string{"", "", "true"})
		if !g.one(3) {
			t.TolerationSeconds = nil
		}
	}
	for i := range spec.Containers {
		g.container(&spec.Containers[i])
	}
	for i := range spec.InitContainers {
		g.container(&spec.InitContainers[i])
	}
	for i := range spec.EphemeralContainers {
		c := corev1.Container(spec.EphemeralContainers[i].EphemeralContainerCommon)
		g.container(&c)
		spec.EphemeralContainers[i].EphemeralContainerCommon = corev1.EphemeralContainerCommon(c)
	}
}

// strategy is a rolling update with or without surge, or OnDelete.
func (g *shaper) strategy(s *appsv1.DaemonSetUpdateStrategy) {
	surge, unavailable := intstr.FromInt32(int32(g.r.Intn(2))), intstr.FromString("10%")
	switch g.r.Intn(3) {
	case 0:
		*s = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	default:
		*s = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: &surge, MaxUnavailable: &unavailable}}
	}
}

func (g *shaper) container(c *corev1.Container) {
	for j := range c.VolumeMounts {
		m := &c.VolumeMounts[j]
		m.Name, m.SubPathExpr = g.pick(randomNames), ""
		if g.one(3) {
			m.SubPath = g.pick([]string{"", "x", "../etc", "kubelet"})
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.Capabilities != nil {
			for k := range sc.Capabilities.Add {
				sc.Capabilities.Add[k] = corev1.Capability(g.pick(randomCaps))
			}
		}
		if !g.one(3) {
			sc.Privileged = nil
		}
		if !g.one(3) {
			sc.Capabilities = nil
		}
		if pm := g.pick([]string{"", "Default", "Unmasked"}); pm == "" {
			sc.ProcMount = nil
		} else {
			sc.ProcMount = (*corev1.ProcMountType)(&pm)
		}
		if !g.one(4) {
			sc.WindowsOptions = nil
		}
	}
	if g.one(4) {
		c.SecurityContext = nil
	}
	for k := range c.Ports {
		if !g.one(3) {
			c.Ports[k].HostPort = 0
		}
	}
	c.Resources.Requests, c.Resources.Limits = g.resources(), g.resources()
}

// resources is a random subset of the units the resources mutator fills.
func (g *shaper) resources() corev1.ResourceList {
	if g.one(4) {
		return nil
	}
	l := corev1.ResourceList{}
	for _, u := range randomUnits {
		if g.one(2) {
			l[u] = resource.MustParse(g.pick([]string{"10m", "1", "64Mi", "2Gi"}))
		}
	}
	return l
}

// RandomValidDaemonSets are n DaemonSets the API server should accept
// (valid names, labels, selector, images, tolerations, resources), whose
// host access, privileges, priority classes, tolerations, resources, ports
// and update strategies are drawn from the values RandomDaemonSets uses:
// for tests that send them through a real API server. The same seed gives
// the same DaemonSets.
func RandomValidDaemonSets(seed int64, n int) []*appsv1.DaemonSet {
	g := &shaper{r: rand.New(rand.NewSource(seed))}
	var paths []string
	for _, p := range randomPaths {
		if !strings.Contains(p, "..") { // kube-apiserver refuses ".." in a hostPath
			paths = append(paths, p)
		}
	}
	out := make([]*appsv1.DaemonSet, n)
	for i := range out {
		name := fmt.Sprintf("random-%d", i)
		ds := Valid("", name)
		ds.Labels = map[string]string{"app": name}
		spec := &ds.Spec.Template.Spec
		spec.Containers = nil
		spec.HostPID, spec.HostNetwork = g.one(3), g.one(4)
		if g.one(2) {
			spec.PriorityClassName = g.pick(randomClasses)
		}
		for j := range g.r.Intn(4) {
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: randomNames[j],
				VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: g.pick(paths)}}})
		}
		for j := range 1 + g.r.Intn(2) {
			spec.Containers = append(spec.Containers, g.validContainer(fmt.Sprintf("c%d", j), spec.Volumes, 9100+int32(j)))
		}
		if g.one(3) {
			spec.InitContainers = append(spec.InitContainers, g.validContainer("init", spec.Volumes, 9200))
		}
		for range g.r.Intn(3) {
			spec.Tolerations = append(spec.Tolerations, g.validToleration())
		}
		g.strategy(&ds.Spec.UpdateStrategy)
		if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxSurge.IntValue() > 0 {
			zero := intstr.FromInt32(0) // a surge needs maxUnavailable 0
			ru.MaxUnavailable = &zero
		}
		out[i] = ds
	}
	return out
}

func (g *shaper) validContainer(name string, volumes []corev1.Volume, port int32) corev1.Container {
	c := corev1.Container{Name: name, Image: "agent:1"}
	for _, v := range volumes {
		if g.one(2) {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v.Name, MountPath: "/host/" + v.Name,
				ReadOnly: g.one(2), SubPath: g.pick([]string{"", "", "x", "kubelet"})})
		}
	}
	if g.one(2) {
		sc := &corev1.SecurityContext{}
		if g.one(3) {
			sc.Privileged = ptr(true)
		}
		if g.one(2) {
			sc.Capabilities = &corev1.Capabilities{Add: []corev1.Capability{corev1.Capability(g.pick(randomCaps))}}
		}
		c.SecurityContext = sc
	}
	if g.one(3) {
		p := corev1.ContainerPort{ContainerPort: port}
		if g.one(2) {
			p.HostPort = port
		}
		c.Ports = []corev1.ContainerPort{p}
	}
	c.Resources.Requests, c.Resources.Limits = g.resources(), g.resources()
	for name, limit := range c.Resources.Limits {
		if req, ok := c.Resources.Requests[name]; ok && req.Cmp(limit) > 0 {
			delete(c.Resources.Limits, name) // a request above its limit is invalid
		}
	}
	return c
}

func (g *shaper) validToleration() corev1.Toleration {
	t := corev1.Toleration{Key: g.pick(randomKeys), Effect: corev1.TaintEffect(g.pick(randomEffects))}
	switch {
	case t.Key == "" || g.one(2):
		t.Operator = corev1.TolerationOpExists
	default:
		t.Operator, t.Value = corev1.TolerationOpEqual, g.pick([]string{"", "true"})
	}
	if t.Effect == corev1.TaintEffectNoExecute && g.one(2) {
		t.TolerationSeconds = ptr(int64(300))
	}
	return t
}

func ptr[T any](v T) *T { return &v }
