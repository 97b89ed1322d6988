package integration

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/test/internal/controlplane"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/defaults"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/test/internal/poll"
	"github.com/daemonguard/daemonguard/validators"
)

var ctx = context.Background()

func TestCreateIsMutated(t *testing.T) {
	ns := namespace(t)
	ds := example(t, "gpu-monitor.yaml", ns)
	if err := c.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	stored := &appsv1.DaemonSet{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(ds), stored); err != nil {
		t.Fatal(err)
	}
	spec := stored.Spec.Template.Spec
	if spec.PriorityClassName != "infra-daemonset" {
		t.Errorf("priorityClassName %q", spec.PriorityClassName)
	}
	// The API server's Priority admission resolved the class we set.
	if spec.Priority != nil && *spec.Priority != 1000000 {
		t.Errorf("priority %d", *spec.Priority)
	}
	if len(spec.Tolerations) != 1 || spec.Tolerations[0].Key != "node-role.kubernetes.io/control-plane" {
		t.Errorf("tolerations %+v", spec.Tolerations)
	}
	r := spec.Containers[0].Resources
	// A memory limit with headroom and no CPU limit.
	if _, cpuLimit := r.Limits[corev1.ResourceCPU]; r.Requests.Cpu().String() != "50m" || r.Requests.Memory().String() != "64Mi" || cpuLimit || r.Limits.Memory().String() != "512Mi" {
		t.Errorf("resources %+v", r)
	}
	if a := stored.Annotations[policy.InjectedAnnotation]; !strings.Contains(a, "spec.template.spec.priorityClassName") {
		t.Errorf("annotation %q", a)
	}
	if stored.Spec.Template.Annotations[policy.InjectedAnnotation] != "" {
		t.Error("the record must not be on the pod template (it would roll every pod)")
	}
	// What the author set is kept.
	if stored.Spec.Template.Spec.NodeSelector["hardware/gpu"] != "true" {
		t.Error("nodeSelector lost")
	}
}

func TestUpdateIsMutated(t *testing.T) {
	ns := namespace(t)
	ds := example(t, "fluentbit.yaml", ns)
	if err := c.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	// Add a sidecar with no resources: the UPDATE fills them in.
	ds.Spec.Template.Spec.Containers = append(ds.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox"})
	if err := c.Update(ctx, ds); err != nil {
		t.Fatal(err)
	}
	got := ds.Spec.Template.Spec.Containers[1].Resources
	if got.Requests.Cpu().String() != "50m" || got.Limits.Memory().String() != "512Mi" {
		t.Fatalf("sidecar resources %+v", got)
	}
	// The author's own resources are untouched.
	if ds.Spec.Template.Spec.Containers[0].Resources.Limits.Cpu().String() != "200m" {
		t.Fatal("author's resources changed")
	}
	if a := ds.Annotations[policy.InjectedAnnotation]; !strings.Contains(a, "containers[1].resources") || !strings.Contains(a, "priorityClassName") {
		t.Fatalf("annotation does not merge old and new injections: %q", a)
	}
}

// Applying the same manifest again must change nothing: no new
// resourceVersion, no new generation, so no rollout.
func TestReapplyChangesNothing(t *testing.T) {
	ns := namespace(t)
	t.Run("client-side apply", func(t *testing.T) {
		manifest := example(t, "ssd-cache.yaml", ns)
		manifest.APIVersion, manifest.Kind = "apps/v1", "DaemonSet"
		// What `kubectl apply` does, with kubectl's own library calls: create
		// with the last-applied annotation, then a three-way strategic merge
		// patch of the same manifest against the live object.
		modified := lastApplied(t, manifest)
		created := manifest.DeepCopy()
		created.Annotations = map[string]string{lastAppliedKey: string(modified)}
		if err := c.Create(ctx, created); err != nil {
			t.Fatal(err)
		}
		before := &appsv1.DaemonSet{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(manifest), before); err != nil {
			t.Fatal(err)
		}
		current, err := json.Marshal(before)
		if err != nil {
			t.Fatal(err)
		}
		meta, err := strategicpatch.NewPatchMetaFromStruct(&appsv1.DaemonSet{})
		if err != nil {
			t.Fatal(err)
		}
		patch, err := strategicpatch.CreateThreeWayMergePatch([]byte(before.Annotations[lastAppliedKey]), modified, current, meta, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Patch(ctx, before.DeepCopy(), client.RawPatch(types.StrategicMergePatchType, patch)); err != nil {
			t.Fatal(err)
		}
		after := &appsv1.DaemonSet{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(manifest), after); err != nil {
			t.Fatal(err)
		}
		if after.ResourceVersion != before.ResourceVersion || after.Generation != before.Generation {
			t.Fatalf("re-apply changed the object (patch %s): rv %s→%s generation %d→%d", patch, before.ResourceVersion, after.ResourceVersion, before.Generation, after.Generation)
		}
		if after.Spec.Template.Spec.PriorityClassName != "infra-daemonset" {
			t.Fatal("re-apply lost the injected fields")
		}
		// A full update of the stored (already mutated) object: also a no-op.
		if err := c.Update(ctx, after); err != nil {
			t.Fatal(err)
		}
		if after.ResourceVersion != before.ResourceVersion {
			t.Fatal("updating the mutated object with itself wrote a new version")
		}
	})
	t.Run("server-side apply", func(t *testing.T) {
		u := toUnstructured(t, example(t, "node-exporter.yaml", ns))
		apply := func() *unstructured.Unstructured {
			obj := u.DeepCopy()
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("integration"), client.ForceOwnership); err != nil {
				t.Fatal(err)
			}
			return obj
		}
		first := apply()
		second := apply()
		if first.GetResourceVersion() != second.GetResourceVersion() || first.GetGeneration() != second.GetGeneration() {
			t.Fatalf("second apply changed the object: rv %s→%s generation %d→%d",
				first.GetResourceVersion(), second.GetResourceVersion(), first.GetGeneration(), second.GetGeneration())
		}
		pc, _, _ := unstructured.NestedString(second.Object, "spec", "template", "spec", "priorityClassName")
		if pc != "infra-daemonset" {
			t.Fatalf("priorityClassName %q after apply", pc)
		}
	})
}

func toUnstructured(t *testing.T, ds *appsv1.DaemonSet) *unstructured.Unstructured {
	t.Helper()
	ds.APIVersion, ds.Kind = "apps/v1", "DaemonSet"
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ds)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	return u
}

// TestEveryEnforcedRuleDenies: every rule enforced by default denies
// through the API server, with its id and at its field, each of its bypass
// corpus files (those with "# rule: <id>") that the API server accepts, and
// nothing is stored. The list comes from the registry, so a new rule is
// tested here as soon as it has its corpus file; a rule whose every file the
// API server refuses by itself (unmasked-procmount on 1.37) is covered by
// that refusal, and the test says so.
func TestEveryEnforcedRuleDenies(t *testing.T) {
	ns := namespace(t)
	files := map[string][]dstest.CorpusFile{}
	for _, f := range dstest.Corpus(t, dstest.BypassDir) {
		if f.Old == nil {
			files[f.Head["rule"]] = append(files[f.Head["rule"]], f)
		}
	}
	for _, d := range validators.Registry() {
		if d.Default != config.Enforce || d.ReadsCluster {
			continue
		}
		t.Run(d.ID, func(t *testing.T) {
			if len(files[d.ID]) == 0 {
				t.Fatalf("no bypass corpus file names # rule: %s", d.ID)
			}
			denied := 0
			for _, f := range files[d.ID] {
				ds := dstest.FromYAML(t, f.Data)
				ds.Namespace = ns
				err := c.Create(ctx, ds)
				if refusedByTheAPIServer(err) {
					t.Logf("%s: refused by the API server itself: %v", f.Name, err)
					continue
				}
				if nf, ok := olderServerDrops(f.Head["field"]); ok && err == nil {
					// The field the rule denies never reaches the webhook
					// (nor the node) on this version: show that it was not kept.
					assertNotKept(t, ds, f.Head["field"], nf)
					continue
				}
				assertDenied(t, err, d.ID, f.Head["field"])
				if err := c.Get(ctx, client.ObjectKeyFromObject(ds), &appsv1.DaemonSet{}); !apierrors.IsNotFound(err) {
					t.Fatalf("%s: a denied DaemonSet was stored (get: %v)", f.Name, err)
				}
				denied++
			}
			if denied == 0 {
				t.Logf("every bypass file of %s is refused by the API server before the webhook is called", d.ID)
			}
		})
	}
}

// refusedByTheAPIServer is an error of the API server's own validation, not
// a webhook's denial.
func refusedByTheAPIServer(err error) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status) && status.Status().Code == 422 && !strings.Contains(status.Status().Message, "admission webhook")
}

// TestUnmaskedProcMountRefusedByTheAPIServer: from 1.33 (ProcMountType on
// by default) kube-apiserver refuses procMount: Unmasked without hostUsers:
// false in its own validation, before the validating webhook is called;
// before 1.33 it resets procMount to Default, so Unmasked never reaches the
// webhook or the node either. unmasked-procmount covers `check`, and servers
// that turn the gate on.
func TestUnmaskedProcMountRefusedByTheAPIServer(t *testing.T) {
	ns := namespace(t)
	ds := daemonSet(ns, "unmasked-procmount", func(s *corev1.PodSpec) {
		s.Containers[0].SecurityContext = &corev1.SecurityContext{ProcMount: ptr.To(corev1.UnmaskedProcMount)}
	})
	err := c.Create(ctx, ds)
	if serverMinor < 33 {
		if err != nil {
			t.Fatalf("kube-apiserver 1.%d: want the create admitted with procMount reset, got %v", serverMinor, err)
		}
		stored := &appsv1.DaemonSet{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(ds), stored); err != nil {
			t.Fatal(err)
		}
		if pm := stored.Spec.Template.Spec.Containers[0].SecurityContext.ProcMount; pm == nil || *pm != corev1.DefaultProcMount {
			t.Fatalf("kube-apiserver 1.%d stored procMount %v, want Default", serverMinor, pm)
		}
		return
	}
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "procMount") || strings.Contains(err.Error(), "daemonguard") {
		t.Fatalf("want the API server's own 422 on procMount, got %v", err)
	}
}

// assertNotKept: ds was admitted by an API server that does not keep the
// newer field at field, and the stored object does not have it (or has it
// reset); the stored DaemonSet is deleted.
func assertNotKept(t *testing.T, ds *appsv1.DaemonSet, field string, nf defaults.NewerField) {
	t.Helper()
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("DaemonSet"))
	if err := c.Get(ctx, client.ObjectKeyFromObject(ds), stored); err != nil {
		t.Fatal(err)
	}
	v, has := at(stored.Object, field)
	if has && (nf.ResetTo == "" || v != nf.ResetTo) {
		t.Fatalf("kube-apiserver 1.%d admitted %s and kept %s = %v: the webhook should have denied it", serverMinor, ds.Name, field, v)
	}
	t.Logf("%s: kube-apiserver 1.%d does not keep %s (%s): stored as %v", ds.Name, serverMinor, field, nf.Why, v)
	if err := c.Delete(ctx, stored); err != nil {
		t.Fatal(err)
	}
}

func assertDenied(t *testing.T, err error, rule, field string) {
	t.Helper()
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		t.Fatalf("want a denial, got %v", err)
	}
	s := status.Status()
	if s.Code != 422 || !strings.Contains(s.Message, `admission webhook "validate.daemonguard.io" denied the request`) {
		t.Fatalf("want a 422 from validate.daemonguard.io, got %d %q", s.Code, s.Message)
	}
	if s.Details == nil {
		t.Fatalf("no causes in %q", s.Message)
	}
	for _, cause := range s.Details.Causes {
		if cause.Field == field && strings.Contains(cause.Message, "["+rule+"]") {
			return
		}
	}
	t.Fatalf("no cause for [%s] at %s in %+v", rule, field, s.Details.Causes)
}

func TestWarningsReachTheClient(t *testing.T) {
	ns := namespace(t)
	warnings.Take()
	if err := c.Create(ctx, example(t, "tolerations.yaml", ns)); err != nil {
		t.Fatal(err)
	}
	got := warnings.Take()
	n := 0
	for _, w := range got {
		if strings.HasPrefix(w, "[ineffective-toleration] spec.template.spec.tolerations[") && strings.Contains(w, "tolerationSeconds: 300 is ignored") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("want 2 ineffective-toleration warnings, got %q", got)
	}
	warnings.Take()
	priv := daemonSet(ns, "privileged", func(s *corev1.PodSpec) {
		s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	})
	if err := c.Create(ctx, priv); err != nil {
		t.Fatal(err)
	}
	// The privileged finding, and the memory limit injected into "agent".
	got = warnings.Take()
	if len(got) != 2 || !strings.HasPrefix(got[0], `resources: container "agent" gets limits.memory: 512Mi`) ||
		!strings.HasPrefix(got[1], "[privileged-container] spec.template.spec.containers[0].securityContext.privileged") {
		t.Fatalf("warnings: %q", got)
	}
}

// TestInjectedLimitsHaveHeadroom: on a real API server, a memory limit is
// twice a large request, never a CPU limit, each injected limit is a warning
// naming its container, and system-node-critical pods are left alone.
func TestInjectedLimitsHaveHeadroom(t *testing.T) {
	ns := namespace(t)
	warnings.Take()
	big := daemonSet(ns, "big", func(s *corev1.PodSpec) {
		s.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi"), corev1.ResourceCPU: resource.MustParse("2")}
		s.InitContainers = []corev1.Container{{Name: "setup", Image: "agent:1"}}
	})
	if err := c.Create(ctx, big); err != nil {
		t.Fatal(err)
	}
	r := big.Spec.Template.Spec.Containers[0].Resources
	if _, cpu := r.Limits[corev1.ResourceCPU]; cpu || r.Limits.Memory().String() != "2Gi" {
		t.Errorf("container limits %v, want memory 2Gi and no CPU limit", r.Limits)
	}
	if l := big.Spec.Template.Spec.InitContainers[0].Resources.Limits; l.Memory().String() != "512Mi" {
		t.Errorf("init container limits %v, want memory 512Mi", l)
	}
	got := strings.Join(warnings.Take(), "\n")
	for _, want := range []string{`init container "setup" gets limits.memory: 512Mi`, `container "agent" gets limits.memory: 2Gi (the larger of 512Mi and 2× its request 1Gi)`} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}

	critical := daemonSet(ns, "critical", func(s *corev1.PodSpec) { s.PriorityClassName = "system-node-critical" })
	if err := c.Create(ctx, critical); err != nil {
		t.Fatal(err)
	}
	if r := critical.Spec.Template.Spec.Containers[0].Resources; len(r.Requests)+len(r.Limits) != 0 {
		t.Errorf("system-node-critical pod got resources %+v", r)
	}
	// The warn rules: a read-only /etc as a container that may run as
	// root (a read-only / as root is denied: it reaches every socket), a
	// writable /var/log.
	for name, want := range map[string]struct {
		volume  corev1.Volume
		mount   corev1.VolumeMount
		warning string
	}{
		"etc-reader": {hostPathVolume("etc", "/etc"), corev1.VolumeMount{Name: "etc", MountPath: "/host/etc", ReadOnly: true},
			"[credential-ancestor-read] spec.template.spec.containers[0].volumeMounts[0]"},
		"log-shipper": {hostPathVolume("log", "/var/log"), corev1.VolumeMount{Name: "log", MountPath: "/var/log"},
			"[writable-var-log] spec.template.spec.containers[0].volumeMounts[0]"},
	} {
		warnings.Take()
		ds := daemonSet(ns, name, func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{want.volume}
			s.Containers[0].VolumeMounts = []corev1.VolumeMount{want.mount}
		})
		if err := c.Create(ctx, ds); err != nil {
			t.Fatal(err)
		}
		if got := warnings.Take(); !slices.ContainsFunc(got, func(w string) bool { return strings.HasPrefix(w, want.warning) }) {
			t.Errorf("%s: no warning %q in %q", name, want.warning, got)
		}
	}
	warnings.Take()
	tracer := daemonSet(ns, "tracer", func(s *corev1.PodSpec) {
		s.HostPID = true
		s.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_PTRACE"}}}
	})
	// hostPID with SYS_PTRACE is denied: nodes without AppArmor or SELinux
	// in the runtime do not confine it (shown on the node).
	err := c.Create(ctx, tracer)
	if err == nil || !strings.Contains(err.Error(), "[hostpid-ptrace] hostPID is true") {
		t.Fatalf("hostpid-ptrace: %v", err)
	}
}

func TestDryRunHasNoSideEffects(t *testing.T) {
	ns := namespace(t)
	ds := example(t, "gpu-monitor.yaml", ns)
	if err := c.Create(ctx, ds, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	if ds.Spec.Template.Spec.PriorityClassName != "infra-daemonset" {
		t.Fatal("the dry-run response is not mutated")
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(ds), &appsv1.DaemonSet{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry run stored the object: %v", err)
	}
	bad := daemonSet(ns, "dry-bad", func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{hostPathVolume("sock", "/run/docker.sock")}
		s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "sock", MountPath: "/var/run/docker.sock", ReadOnly: true}}
	})
	assertDenied(t, c.Create(ctx, bad, client.DryRunAll), "container-runtime-socket", "spec.template.spec.containers[0].volumeMounts[0]")
}

// kube-system is excluded by the shipped namespaceSelector: not mutated, not
// validated.
func TestExemptNamespaceUntouched(t *testing.T) {
	ds := daemonSet("kube-system", "cni", func(s *corev1.PodSpec) {
		s.HostPID = true
		s.Volumes = []corev1.Volume{hostPathVolume("cni", "/etc/cni/net.d")}
		s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cni", MountPath: "/host/etc/cni/net.d"}}
	})
	if err := c.Create(ctx, ds); err != nil {
		t.Fatalf("kube-system must be exempt: %v", err)
	}
	t.Cleanup(func() { _ = c.Delete(ctx, ds) })
	if ds.Spec.Template.Spec.PriorityClassName != "" || ds.Annotations[policy.InjectedAnnotation] != "" {
		t.Fatal("a kube-system DaemonSet was mutated")
	}
}

// A namespace exempted in the policy file (not the namespaceSelector): the
// webhook is called and must leave the object alone.
func TestPolicyExemption(t *testing.T) {
	ns := namespace(t)
	setPolicy(t, basePolicy+"exemptions:\n- namespaces: [kube-system]\n- namespaces: ["+ns+"]\n  reason: integration test\n", func() bool {
		ds := daemonSet(ns, "probe", nil)
		return c.Create(ctx, ds, client.DryRunAll) == nil && ds.Spec.Template.Spec.PriorityClassName == ""
	})
	ds := daemonSet(ns, "sock", func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{hostPathVolume("sock", "/run/docker.sock")}
		s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "sock", MountPath: "/var/run/docker.sock"}}
	})
	if err := c.Create(ctx, ds); err != nil {
		t.Fatalf("exempt namespace denied: %v", err)
	}
}

// A DaemonSet stored before a rule was enforced can still take an image
// bump; a new violation in the same update is denied.
func TestUpdateRatchets(t *testing.T) {
	ns := namespace(t)
	legacy := daemonSet(ns, "legacy", func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{hostPathVolume("sock", "/var/run/docker.sock")}
		s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "sock", MountPath: "/var/run/docker.sock", ReadOnly: true}}
	})
	func() {
		setPolicy(t, basePolicy+"validation:\n  rules:\n    container-runtime-socket: warn\n", func() bool {
			return c.Create(ctx, legacy.DeepCopy(), client.DryRunAll) == nil
		})
		if err := c.Create(ctx, legacy); err != nil {
			t.Fatal(err)
		}
	}()
	// Back to the base policy (enforce): wait until a new one is denied.
	if err := os.WriteFile(policyFile, []byte(basePolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		fresh := legacy.DeepCopy()
		fresh.Name, fresh.ResourceVersion = "fresh", ""
		return c.Create(ctx, fresh, client.DryRunAll) != nil
	})

	warnings.Take()
	legacy.Spec.Template.Spec.Containers[0].Image = "agent:2"
	if err := c.Update(ctx, legacy); err != nil {
		t.Fatalf("image bump of a DaemonSet with a pre-existing violation: %v", err)
	}
	got := warnings.Take()
	if len(got) != 1 || !strings.Contains(got[0], "[container-runtime-socket]") || !strings.Contains(got[0], "already present before this update") {
		t.Fatalf("want the ratcheted finding as a warning, got %q", got)
	}
	legacy.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "also", Image: "busybox",
		VolumeMounts: []corev1.VolumeMount{{Name: "sock", MountPath: "/sock"}}}}
	assertDenied(t, c.Update(ctx, legacy), "container-runtime-socket", "spec.template.spec.initContainers[0].volumeMounts[0]")
}

func TestMissingPriorityClassIsSkipped(t *testing.T) {
	ns := namespace(t)
	setPolicy(t, basePolicy+"mutation:\n  priorityClass:\n    name: no-such-class\n", func() bool {
		warnings.Take()
		ds := daemonSet(ns, "probe", nil)
		return c.Create(ctx, ds, client.DryRunAll) == nil && ds.Spec.Template.Spec.PriorityClassName == "" &&
			strings.Contains(strings.Join(warnings.Take(), "\n"), `PriorityClass "no-such-class" does not exist`)
	})
	ds := daemonSet(ns, "agent", nil)
	if err := c.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if ds.Spec.Template.Spec.PriorityClassName != "" {
		t.Fatal("a missing PriorityClass was injected")
	}
	if ds.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu().IsZero() {
		t.Fatal("the other mutators must still run")
	}
}

// Changing the policy file changes a verdict without restarting the webhook;
// a broken file keeps the last good policy.
func TestPolicyHotReload(t *testing.T) {
	ns := namespace(t)
	priv := func(name string) *appsv1.DaemonSet {
		return daemonSet(ns, name, func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		})
	}
	if err := c.Create(ctx, priv("before"), client.DryRunAll); err != nil {
		t.Fatalf("privileged-container only warns by default: %v", err)
	}
	setPolicy(t, basePolicy+"validation:\n  rules:\n    privileged-container: enforce\n", func() bool {
		return c.Create(ctx, priv("during"), client.DryRunAll) != nil
	})
	assertDenied(t, c.Create(ctx, priv("after")), "privileged-container", "spec.template.spec.containers[0].securityContext.privileged")

	// A broken file: the enforcing policy stays in force.
	if err := os.WriteFile(policyFile, []byte("apiVersion: daemonguard.io/v1alpha1\nkind: Policy\nvalidation: {rules: {privileged-container: maybe}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	assertDenied(t, c.Create(ctx, priv("still"), client.DryRunAll), "privileged-container", "spec.template.spec.containers[0].securityContext.privileged")
}

// The resources the API server rejects (request above limit) are never
// produced, and a limit without a request gets no request under it: the
// API server gives the pods that limit as their request (updated for issue
// 20, which found the injected default cutting an agent's 200m/500Mi
// reservation to 50m/64Mi). A pod made from the admitted template shows
// the API server's own defaulting.
func TestInjectedResourcesAreValid(t *testing.T) {
	ns := namespace(t)
	ds := daemonSet(ns, "tiny", func(s *corev1.PodSpec) {
		s.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("500Mi")}
	})
	if err := c.Create(ctx, ds); err != nil {
		t.Fatalf("the API server rejected the mutated object: %v", err)
	}
	r := ds.Spec.Template.Spec.Containers[0].Resources
	if len(r.Requests) != 0 {
		t.Fatalf("requests %v injected under the author's limits %v", r.Requests, r.Limits)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "tiny-pod", Namespace: ns}, Spec: *ds.Spec.Template.Spec.DeepCopy()}
	pod.Spec.PriorityClassName, pod.Spec.Priority = "", nil
	if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	if got := pod.Spec.Containers[0].Resources.Requests; got.Cpu().String() != "200m" || got.Memory().String() != "500Mi" {
		t.Errorf("the API server gave the pod requests %v, want its limits", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	poll.Until(t, 15*time.Second, "condition", poll.Bool(cond))
}

// Every unsafe example the demo shows is denied through the API server, as
// `check` says it is offline.
func TestUnsafeExamplesAreDenied(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "deploy", "examples", "unsafe", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no unsafe examples")
	}
	ns := namespace(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ds := example(t, filepath.Join("unsafe", filepath.Base(f)), ns)
			err := c.Create(ctx, ds)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "validate.daemonguard.io") {
				t.Fatalf("want a denial from validate.daemonguard.io, got %v", err)
			}
		})
	}
}

const lastAppliedKey = "kubectl.kubernetes.io/last-applied-configuration"

// lastApplied is the manifest as kubectl records it: JSON, with the
// annotation itself in place (empty), as kubectl's apply does.
func lastApplied(t *testing.T, ds *appsv1.DaemonSet) []byte {
	t.Helper()
	u := toUnstructured(t, ds.DeepCopy())
	b, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
