package nodes

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime/debug"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Every check finds on slimmed Nodes what it finds on whole ones.
func TestSlimKeepsWhatTheChecksRead(t *testing.T) {
	var whole, slim []*corev1.Node
	for _, n := range append(cluster(), sized(node("small", map[string]string{"node.kubernetes.io/pool": "edge"}), "100m", "128Mi"),
		node("draining", nil, notReadyExecute, unschedulable)) {
		full(n)
		whole = append(whole, n)
		s := n.DeepCopy()
		Slim(s)
		slim = append(slim, s)
	}
	onName := func(s *corev1.PodSpec) {
		s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"gpu-1", "small"}}}}},
		}}}
	}
	big := func(s *corev1.PodSpec) {
		s.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")}
	}
	for name, ds := range map[string]func(*corev1.PodSpec){
		"plain":          func(*corev1.PodSpec) {},
		"tolerates all":  tolerate(corev1.Toleration{Operator: corev1.TolerationOpExists}),
		"nodeSelector":   func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"node.kubernetes.io/pool": "gpu"} },
		"field affinity": onName,
		"too big":        big,
		"nodeName":       func(s *corev1.PodSpec) { s.NodeName = "worker-1" },
	} {
		d := daemonSet(ds)
		if got, want := Review(d, slim), Review(d, whole); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: on slimmed nodes %v, on whole ones %v", name, got, want)
		}
	}
	if s := slim[0]; s.Status.Conditions != nil || s.Status.Images != nil || s.Annotations != nil || s.Status.Capacity != nil || s.Status.NodeInfo != (corev1.NodeSystemInfo{}) {
		t.Errorf("Slim kept %+v", s)
	}
}

// full gives n what a kubelet reports besides what the checks read.
func full(n *corev1.Node) {
	n.Annotations = map[string]string{"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}
	n.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate}}
	n.Status.Capacity = n.Status.Allocatable.DeepCopy()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}, {Type: corev1.NodeHostName, Address: n.Name}}
	n.Status.NodeInfo = corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", ContainerRuntimeVersion: "containerd://2.2.0", OSImage: "Debian GNU/Linux 13", Architecture: "amd64", OperatingSystem: "linux"}
	n.Status.Images = []corev1.ContainerImage{{Names: []string{fmt.Sprintf("registry.example/%s:1", n.Name)}, SizeBytes: 1 << 20}}
	n.Spec.PodCIDR, n.Spec.ProviderID = "10.244.0.0/24", "kwok://"+n.Name
}

// Two Nodes decoded apart share their label, taint and resource strings
// once slimmed (within one garbage collection cycle: the canonical copies
// live only as long as a handle does, so the collector is held off).
func TestSlimInterns(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	decode := func(name string) *corev1.Node {
		var n corev1.Node
		body := `{"metadata":{"name":"` + name + `","labels":{"topology.kubernetes.io/zone":"eu-1a"}},` +
			`"spec":{"taints":[{"key":"dedicated","value":"gpu","effect":"NoSchedule"}]},"status":{"allocatable":{"nvidia.com/gpu":"8"}}}`
		if err := json.Unmarshal([]byte(body), &n); err != nil {
			t.Fatal(err)
		}
		Slim(&n)
		return &n
	}
	a, b := decode("a"), decode("b")
	same := func(what, x, y string) {
		if unsafe.StringData(x) != unsafe.StringData(y) {
			t.Errorf("%s %q is kept twice", what, x)
		}
	}
	for k, v := range a.Labels {
		bk := ""
		for k2 := range b.Labels {
			bk = k2
		}
		same("label key", k, bk)
		same("label value", v, b.Labels[k])
	}
	same("taint key", a.Spec.Taints[0].Key, b.Spec.Taints[0].Key)
	same("taint value", a.Spec.Taints[0].Value, b.Spec.Taints[0].Value)
	for name := range a.Status.Allocatable {
		for name2 := range b.Status.Allocatable {
			same("resource name", string(name), string(name2))
		}
	}
}
