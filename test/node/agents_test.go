package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/review"
	"github.com/daemonguard/daemonguard/test/internal/node"
)

// recipesDir holds the exemption recipes (NAME.yaml) and their agents
// (testdata/NAME.yaml).
const recipesDir = "../../deploy/recipes"

// recipeExemptions are the exemptions of deploy/recipes, each as written.
func recipeExemptions() ([]config.Exemption, error) {
	files, err := filepath.Glob(filepath.Join(recipesDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var out []config.Exemption
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var list []config.Exemption
		if err := yaml.UnmarshalStrict(b, &list); err != nil {
			return nil, err
		}
		for i := range list {
			if !strings.HasPrefix(list[i].Reason, "recipe ") {
				list[i].Reason = "recipe " + filepath.Base(f) + ": " + list[i].Reason
			}
		}
		out = append(out, list...)
	}
	return out, nil
}

func clientset(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(nd.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// allowedDir is the allowed corpus: configurations of real agents the
// default policy admits.
const allowedDir = "../../internal/policy/testdata/allowed"

// TestAgents: every configuration of the allowed corpus and every recipe's
// agent (with its exemption in the suite's policy) is created through the
// API server, mutated by daemonguard, and starts on the node: each of its
// containers (the probe in place of the agent's program) finds its mounts
// as declared, read-only ones refusing writes, and runs with the memory
// limit daemonguard injected; the pod carries the template's tolerations
// and resources, which are what `check` computes offline.
func TestAgents(t *testing.T) {
	var files []string
	for _, dir := range []string{allowedDir, filepath.Join(recipesDir, "testdata")} {
		f, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil || len(f) == 0 {
			t.Fatalf("no agents in %s (%v)", dir, err)
		}
		files = append(files, f...)
	}
	body, err := suitePolicy()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	served, err := policy.New(cfg, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	labels := &nodeLabels{added: map[string]bool{}}
	t.Cleanup(func() { labels.remove(t) })
	for _, file := range files {
		kind := "allowed"
		if strings.Contains(file, "recipes") {
			kind = "recipe"
		}
		name := kind + "/" + strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ds := readDaemonSet(t, file)
			if ds.Spec.Template.Spec.NodeSelector[corev1.LabelOSStable] == "windows" {
				t.Skipf("a Windows agent (nodeSelector %s: windows); this node is Linux", corev1.LabelOSStable)
			}
			if kind == "allowed" {
				// Each in a namespace of its own; recipes keep theirs (their
				// exemption names it).
				ds.Namespace = "agent-" + strings.TrimSuffix(filepath.Base(file), ".yaml")
			}
			runAgent(t, served, labels, ds)
		})
	}
}

func runAgent(t *testing.T, served *policy.Policy, labels *nodeLabels, ds *appsv1.DaemonSet) {
	ctx := context.Background()
	createNamespace(t, ds.Namespace)
	labels.add(t, &ds.Spec.Template.Spec)
	refusal := unsupportedOnNode(&ds.Spec.Template.Spec)
	spec := &ds.Spec.Template.Spec
	if sa := spec.ServiceAccountName; sa != "" && sa != "default" {
		if err := nd.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ds.Namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	if pc := spec.PriorityClassName; pc != "" && !strings.HasPrefix(pc, "system-") {
		err := nd.Client.Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: pc}, Value: 1000000})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	probeAgent(t, ds)

	// What check computes offline, with the policy the webhook serves.
	js, err := yaml.Marshal(ds)
	if err == nil {
		js, err = yaml.YAMLToJSON(js)
	}
	if err != nil {
		t.Fatal(err)
	}
	adm, err := review.Admit(ctx, served, ds.Namespace, js, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := adm.Validation.Verdict.DeniedRules(); len(d) > 0 {
		t.Fatalf("check denies it under the suite's policy: %v", d)
	}
	predicted := &appsv1.DaemonSet{}
	if err := yaml.Unmarshal(adm.Object, predicted); err != nil {
		t.Fatal(err)
	}

	if err := nd.Client.Create(ctx, ds); err != nil {
		t.Fatalf("creating %s/%s: %v", ds.Namespace, ds.Name, err)
	}
	stored := &appsv1.DaemonSet{}
	if err := nd.Client.Get(ctx, client.ObjectKeyFromObject(ds), stored); err != nil {
		t.Fatal(err)
	}
	tmpl := &stored.Spec.Template.Spec
	if !equality.Semantic.DeepEqual(containerResources(tmpl), containerResources(&predicted.Spec.Template.Spec)) ||
		!equality.Semantic.DeepEqual(tmpl.Tolerations, predicted.Spec.Template.Spec.Tolerations) ||
		tmpl.PriorityClassName != predicted.Spec.Template.Spec.PriorityClassName {
		t.Errorf("the API server stored resources %v, tolerations %v, priority class %q; check computed %v, %v, %q",
			containerResources(tmpl), tmpl.Tolerations, tmpl.PriorityClassName,
			containerResources(&predicted.Spec.Template.Spec), predicted.Spec.Template.Spec.Tolerations, predicted.Spec.Template.Spec.PriorityClassName)
	}
	t.Logf("injected: %s", stored.Annotations["daemonguard.io/injected"])

	if refusal != "" {
		// What containerd 1.6 cannot do, the kubelet refuses rather than
		// run the pod differently: show that, and that it is why.
		podOf(t, stored, "refused with "+strconv.Quote(refusal), func(p *corev1.Pod) (bool, string) {
			d := p.Status.Reason + ": " + p.Status.Message + "; " + describe(p)
			return strings.Contains(d, refusal), d
		})
		t.Logf("does not start on this node (containerd 1.6): the kubelet refuses it: %s", refusal)
		return
	}
	pod := podOf(t, stored, "with every container's probe report", func(p *corev1.Pod) (bool, string) {
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			if _, err := nd.ProbeResult(p, c.Name); err != nil {
				return false, c.Name + ": " + err.Error()
			}
		}
		return true, ""
	})
	if want := podResources(tmpl); !equality.Semantic.DeepEqual(containerResources(&pod.Spec), want) {
		t.Errorf("the pod's resources %v, want the template's as a Pod defaults them %v", containerResources(&pod.Spec), want)
	}
	for _, want := range tmpl.Tolerations {
		if !slices.ContainsFunc(pod.Spec.Tolerations, func(got corev1.Toleration) bool { return got.MatchToleration(&want) }) {
			t.Errorf("the pod lacks the template's toleration %v", want)
		}
	}
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		r, err := nd.ProbeResult(pod, c.Name)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s", c.Name, r)
		for _, s := range r.Steps {
			if !s.OK {
				t.Errorf("%s: %v failed: %s", c.Name, s.Op, s.Err)
			}
		}
		if lim, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && len(r.Steps) > 1 {
			// The kernel rounds a limit down to whole pages.
			pages := lim.Value() / int64(os.Getpagesize()) * int64(os.Getpagesize())
			want := fmt.Sprintf("memory.limit_in_bytes=%d", pages)
			if !strings.Contains(r.Steps[1].Out, want) && !strings.Contains(r.Steps[1].Out, fmt.Sprintf("memory.max=%d", pages)) {
				t.Errorf("%s: the runtime set %q, want %s (limits.memory %s)", c.Name, r.Steps[1].Out, want, lim.String())
			}
		}
	}
}

// containerResources are the resources of every container, init
// containers first, by name.
func containerResources(s *corev1.PodSpec) map[string]corev1.ResourceRequirements {
	out := map[string]corev1.ResourceRequirements{}
	for _, c := range append(append([]corev1.Container{}, s.InitContainers...), s.Containers...) {
		out[c.Name] = c.Resources
	}
	return out
}

// podResources are a template's container resources as the API server
// defaults them in a Pod: a limit without a request requests the limit
// (what daemonguard must not undercut by injecting a smaller request).
func podResources(s *corev1.PodSpec) map[string]corev1.ResourceRequirements {
	out := containerResources(s)
	for name, r := range out {
		r = *r.DeepCopy()
		for res, lim := range r.Limits {
			if _, ok := r.Requests[res]; !ok {
				if r.Requests == nil {
					r.Requests = corev1.ResourceList{}
				}
				r.Requests[res] = lim
			}
		}
		out[name] = r
	}
	return out
}

// probeAgent replaces every container's program with the probe, checking
// the container's mounts and its cgroup limits; drops what would fail for
// a program that is not the agent (probes, hooks); makes Secret and
// ConfigMap references optional (the suite creates none); and plants on the
// node what the agent's hostPath types require to exist.
func probeAgent(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	spec := &ds.Spec.Template.Spec
	readOnlyVolume, subPathOf := map[string]bool{}, map[string]bool{}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, m := range c.VolumeMounts {
			if m.SubPath != "" || m.SubPathExpr != "" {
				subPathOf[m.Name] = true
			}
		}
	}
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		switch {
		case v.Secret != nil:
			v.Secret.Optional, readOnlyVolume[v.Name] = ptrTo(true), true
		case v.ConfigMap != nil:
			v.ConfigMap.Optional, readOnlyVolume[v.Name] = ptrTo(true), true
		case v.Projected != nil:
			readOnlyVolume[v.Name] = true
			for j := range v.Projected.Sources {
				if s := v.Projected.Sources[j].Secret; s != nil {
					s.Optional = ptrTo(true)
				}
				if s := v.Projected.Sources[j].ConfigMap; s != nil {
					s.Optional = ptrTo(true)
				}
			}
		case v.DownwardAPI != nil:
			readOnlyVolume[v.Name] = true
		case v.HostPath != nil:
			plantHostPath(t, v.HostPath, subPathOf[v.Name])
		}
	}
	edit := func(c *corev1.Container, hold bool) {
		var mounts []proberesultMount
		for _, m := range c.VolumeMounts {
			mounts = append(mounts, proberesultMount{Path: m.MountPath, ReadOnly: m.ReadOnly || readOnlyVolume[m.Name]})
		}
		mountSpec, _ := json.Marshal(mounts)
		steps, _ := json.Marshal([][]string{{"mounts", string(mountSpec)}, {"cgroup"}})
		c.Image, c.ImagePullPolicy, c.Command = node.ProbeImage, corev1.PullNever, nil
		c.Args = []string{string(steps)}
		if hold {
			c.Args = append([]string{"-hold"}, c.Args...)
		}
		c.LivenessProbe, c.ReadinessProbe, c.StartupProbe, c.Lifecycle = nil, nil, nil, nil
		// runAsNonRoot without a uid relies on the agent's image naming a
		// user; the probe's image names none, so give the uid the image
		// would have (any non-root one).
		if runsAsNonRootByImage(spec, c) {
			if c.SecurityContext == nil {
				c.SecurityContext = &corev1.SecurityContext{}
			}
			c.SecurityContext.RunAsUser = ptrTo(int64(65534))
			t.Logf("container %s: runAsNonRoot with no runAsUser: runs as uid 65534 (the probe's image names no user)", c.Name)
		}
		for i := range c.Env {
			if f := c.Env[i].ValueFrom; f != nil {
				if f.SecretKeyRef != nil {
					f.SecretKeyRef.Optional = ptrTo(true)
				}
				if f.ConfigMapKeyRef != nil {
					f.ConfigMapKeyRef.Optional = ptrTo(true)
				}
			}
		}
		for i := range c.EnvFrom {
			if c.EnvFrom[i].SecretRef != nil {
				c.EnvFrom[i].SecretRef.Optional = ptrTo(true)
			}
			if c.EnvFrom[i].ConfigMapRef != nil {
				c.EnvFrom[i].ConfigMapRef.Optional = ptrTo(true)
			}
		}
		if sc := c.SecurityContext; sc != nil && sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeLocalhost {
			plantSeccomp(t, *sc.SeccompProfile.LocalhostProfile)
		}
		if sc := c.SecurityContext; sc != nil && sc.Capabilities != nil {
			// These machines lack CAP_SYS_RESOURCE in their bounding set
			// (runc: "unable to apply caps"); a real node has it.
			sc.Capabilities.Add = slices.DeleteFunc(sc.Capabilities.Add, func(capName corev1.Capability) bool {
				if strings.TrimPrefix(strings.ToUpper(string(capName)), "CAP_") == "SYS_RESOURCE" {
					t.Logf("container %s: capability %s not added: this machine does not have it", c.Name, capName)
					return true
				}
				return false
			})
		}
	}
	for i := range spec.InitContainers {
		// A restartable init container (a sidecar) keeps running.
		sidecar := spec.InitContainers[i].RestartPolicy != nil && *spec.InitContainers[i].RestartPolicy == corev1.ContainerRestartPolicyAlways
		edit(&spec.InitContainers[i], sidecar)
	}
	for i := range spec.Containers {
		edit(&spec.Containers[i], true)
	}
	if sc := spec.SecurityContext; sc != nil && sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeLocalhost {
		plantSeccomp(t, *sc.SeccompProfile.LocalhostProfile)
	}
	spec.TerminationGracePeriodSeconds = ptrTo(int64(1))
}

// proberesultMount is one entry of the probe's mounts check.
type proberesultMount struct {
	Path     string `json:"path"`
	ReadOnly bool   `json:"readOnly"`
}

// plantHostPath makes what a hostPath's type requires exist on the node,
// as it would on a node running the agent's neighbours (a socket, a file,
// a directory). The node's /usr, /proc, /sys and /dev are not the scratch
// root's directories: nothing is planted there.
func plantHostPath(t *testing.T, hp *corev1.HostPathVolumeSource, subPath bool) {
	t.Helper()
	typ := corev1.HostPathUnset
	if hp.Type != nil {
		typ = *hp.Type
	}
	// An untyped hostPath mounted with a subPath must exist (the kubelet
	// stats it): a directory, as the agent's installer would have made.
	if typ == corev1.HostPathUnset && subPath {
		typ = corev1.HostPathDirectory
	}
	if typ == corev1.HostPathUnset || !filepath.IsAbs(hp.Path) {
		return
	}
	first := strings.Split(strings.TrimPrefix(filepath.Clean(hp.Path), "/"), "/")[0]
	if slices.Contains([]string{"usr", "proc", "sys", "dev", "lib", "lib64", "bin", "sbin"}, first) {
		return
	}
	p := nd.Path(hp.Path)
	if _, err := os.Lstat(p); err == nil {
		return
	}
	var err error
	switch typ {
	case corev1.HostPathDirectory:
		err = os.MkdirAll(p, 0o755)
	case corev1.HostPathFile:
		if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(p, nil, 0o644)
		}
	case corev1.HostPathSocket:
		if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			var l *net.UnixListener
			if l, err = net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"}); err == nil {
				l.SetUnlinkOnClose(false)
				l.Close()
			}
		}
	}
	if err != nil {
		t.Fatalf("planting %s (%s) on the node: %v", hp.Path, typ, err)
	}
	t.Logf("planted %s (%s) on the node", hp.Path, typ)
}

// plantSeccomp writes a Localhost seccomp profile the agent names into the
// kubelet's seccomp directory: the runtime's default actions, allowing
// everything else (the suite tests mounts, not the agent's profile).
func plantSeccomp(t *testing.T, name string) {
	t.Helper()
	p := nd.Path(filepath.Join("/var/lib/kubelet/seccomp", name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(`{"defaultAction":"SCMP_ACT_ALLOW"}`), 0o644); err != nil {
		t.Fatal(err)
	}
}

// unsupportedOnNode says what of spec this node's runtime (containerd 1.6)
// lacks, as the kubelet words its refusal; "" when nothing.
func unsupportedOnNode(spec *corev1.PodSpec) string {
	if sc := spec.SecurityContext; sc != nil && sc.SupplementalGroupsPolicy != nil && *sc.SupplementalGroupsPolicy == corev1.SupplementalGroupsPolicyStrict {
		return "SupplementalGroupsPolicy=Strict is not supported"
	}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, m := range c.VolumeMounts {
			if m.RecursiveReadOnly != nil && *m.RecursiveReadOnly == corev1.RecursiveReadOnlyEnabled {
				return "recursive read-only mode, but it is not supported by the runtime"
			}
		}
	}
	return ""
}

// nodeLabels are the labels the agents' node selectors and required node
// affinities ask for, put on the node for them (an agent for control-plane
// nodes, for nodes of a cloud) and removed once every agent is done.
type nodeLabels struct {
	mu    sync.Mutex
	added map[string]bool
}

func (l *nodeLabels) add(t *testing.T, spec *corev1.PodSpec) {
	t.Helper()
	want := map[string]string{}
	for k, v := range spec.NodeSelector {
		want[k] = v
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		if terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms; len(terms) > 0 {
			for _, e := range terms[0].MatchExpressions {
				switch e.Operator {
				case corev1.NodeSelectorOpIn:
					want[e.Key] = e.Values[0]
				case corev1.NodeSelectorOpExists:
					want[e.Key] = ""
				}
			}
		}
	}
	var n corev1.Node
	if err := nd.Client.Get(context.Background(), keyOf(node.Name, ""), &n); err != nil {
		t.Fatal(err)
	}
	patch := map[string]string{}
	for k, v := range want {
		if cur, ok := n.Labels[k]; !ok || cur != v {
			patch[k] = v
		}
	}
	if len(patch) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := patchNodeLabels(patch); err != nil {
		t.Fatal(err)
	}
	for k := range patch {
		l.added[k] = true
	}
	t.Logf("labelled the node %v for the agent's node selection", patch)
}

func (l *nodeLabels) remove(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.added) == 0 {
		return
	}
	patch := map[string]any{}
	for k := range l.added {
		patch[k] = nil
	}
	if err := patchNodeLabels(patch); err != nil {
		t.Errorf("removing the agents' node labels: %v", err)
	}
}

// patchNodeLabels merge-patches the node's labels (a nil value removes one).
func patchNodeLabels[V any](labels map[string]V) error {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	if err != nil {
		return err
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node.Name}}
	return nd.Client.Patch(context.Background(), n, client.RawPatch(types.MergePatchType, body))
}

// runsAsNonRootByImage reports whether container c must run as non-root
// but names no uid, neither it nor its pod: the image's user decides.
func runsAsNonRootByImage(spec *corev1.PodSpec, c *corev1.Container) bool {
	nonRoot, uid := false, false
	if sc := spec.SecurityContext; sc != nil {
		nonRoot = sc.RunAsNonRoot != nil && *sc.RunAsNonRoot
		uid = sc.RunAsUser != nil
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
		uid = uid || sc.RunAsUser != nil
	}
	return nonRoot && !uid
}
