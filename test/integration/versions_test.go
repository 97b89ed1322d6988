package integration

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/internal/defaults"
	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
)

// The suite runs on the newest and the oldest supported kube-apiserver
// (make integration). What an older one does differently to the fields the
// rules read is defaults.NewerFields, which check --kube-version and
// review.AdmitFor apply offline; these tests hold that table to the real
// server.

// serverOwnWarning reports whether w is the API server's own warning about a
// newer field this version does not know (which daemonguard does not give).
func serverOwnWarning(w string, minor int) bool {
	name, ok := strings.CutPrefix(w, `unknown field "`)
	if !ok {
		return false
	}
	f, ok := defaults.NewerFieldAt(strings.TrimSuffix(name, `"`))
	return ok && minor < f.KnownFrom
}

// olderServerDrops is the newer field at the concrete path field, if this
// API server does not keep it.
func olderServerDrops(field string) (defaults.NewerField, bool) {
	f, ok := defaults.NewerFieldAt(field)
	return f, ok && serverMinor < f.KeptFrom
}

// TestNewerFieldsAreWhatTheServerDrops: a DaemonSet that sets every field of
// defaults.NewerFields (in containers and init containers) is stored by this
// API server exactly as defaults.AsServerKeeps says it will be: on 1.37 all
// kept, on 1.30 each dropped or reset, and nothing else changed by the
// difference. The server's "unknown field" warnings name exactly the fields
// it does not know.
func TestNewerFieldsAreWhatTheServerDrops(t *testing.T) {
	sent := daemonSet(controlplane.WebhookNamespace, "newer-fields", func(s *corev1.PodSpec) {
		s.HostUsers = ptr.To(false)
		s.SecurityContext = &corev1.PodSecurityContext{SupplementalGroupsPolicy: ptr.To(corev1.SupplementalGroupsPolicyStrict)}
		s.Volumes = []corev1.Volume{hostPathVolume("sys", "/sys")}
		c := corev1.Container{
			Name: "agent", Image: "agent:1",
			SecurityContext: &corev1.SecurityContext{ProcMount: ptr.To(corev1.UnmaskedProcMount)},
			VolumeMounts: []corev1.VolumeMount{{Name: "sys", MountPath: "/host/sys", ReadOnly: true,
				RecursiveReadOnly: ptr.To(corev1.RecursiveReadOnlyEnabled)}},
		}
		init := c
		init.Name = "init"
		s.Containers, s.InitContainers = []corev1.Container{c}, []corev1.Container{init}
	})
	// Where the webhooks are not called: the server's own handling alone.
	// As JSON, as kubectl sends it (the typed client's protobuf drops an
	// unknown field without a warning).
	warnings.Take()
	u := toUnstructured(t, sent.DeepCopy())
	if err := c.Create(ctx, u, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	own := warnings.Take()
	stored := &appsv1.DaemonSet{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, stored); err != nil {
		t.Fatal(err)
	}
	want := sent.DeepCopy()
	defaults.DaemonSet(want)
	changed := defaults.AsServerKeeps(want, serverMinor)
	if d := cmp.Diff(&want.Spec, &stored.Spec); d != "" {
		t.Errorf("kube-apiserver 1.%d stored (+) not what defaults.AsServerKeeps says (-):\n%s", serverMinor, d)
	}
	var unknown []string
	for _, w := range own {
		if serverOwnWarning(w, serverMinor) {
			unknown = append(unknown, w)
		}
	}
	var wantUnknown []string
	for _, f := range changed {
		if nf, _ := defaults.NewerFieldAt(f); serverMinor < nf.KnownFrom {
			wantUnknown = append(wantUnknown, `unknown field "`+f+`"`)
		}
	}
	slices.Sort(unknown)
	slices.Sort(wantUnknown)
	if !slices.Equal(unknown, wantUnknown) {
		t.Errorf("the API server's unknown-field warnings %q, want %q (all: %q)", unknown, wantUnknown, own)
	}
	if serverMinor < defaults.Newest && len(changed) == 0 {
		t.Errorf("kube-apiserver 1.%d: no newer field differs; is defaults.Oldest still right?", serverMinor)
	}
	t.Logf("kube-apiserver 1.%d does not keep %q", serverMinor, changed)
}

// TestTheWebhookJudgesWhatTheServerKeeps: a DaemonSet made safe by a field
// an older API server drops is judged without it there, because that is
// what the node runs: allowed from the version that keeps the field,
// denied (or warned about) before it, with the API server's own "unknown
// field" warning where it does not know the field at all. check
// --kube-version says the same (TestCheckKubeVersion).
func TestTheWebhookJudgesWhatTheServerKeeps(t *testing.T) {
	ns := namespace(t)
	files := map[string]dstest.CorpusFile{}
	for _, f := range dstest.Corpus(t, dstest.AllowedDir) {
		files[f.Name] = f
	}
	for _, tc := range []struct {
		file, field string
		// older is what the webhook says on an older server: a denying
		// rule, or a warning's prefix.
		deny, warn string
	}{
		{file: "am-socket-unprivileged", field: "spec.template.spec.securityContext.supplementalGroupsPolicy", deny: "container-runtime-socket"},
		{file: "am-readonly-sys-recursive", field: "spec.template.spec.containers[0].volumeMounts[0].recursiveReadOnly", warn: "[readonly-not-recursive] spec.template.spec.containers[0].volumeMounts[0]"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, ok := files[tc.file]
			if !ok {
				t.Fatalf("no allowed corpus file %s", tc.file)
			}
			nf, ok := defaults.NewerFieldAt(tc.field)
			if !ok {
				t.Fatalf("%s is not in defaults.NewerFields", tc.field)
			}
			data := inNamespace(t, f.Data, ns)
			if _, ok := at(unstructuredOf(t, data).Object, tc.field); !ok {
				t.Fatalf("%s does not set %s", tc.file, tc.field)
			}
			// What the server keeps: a dry run where the webhooks are not called.
			kept := unstructuredOf(t, inNamespace(t, f.Data, controlplane.WebhookNamespace))
			warnings.Take()
			if err := c.Create(ctx, kept, client.DryRunAll); err != nil {
				t.Fatal(err)
			}
			own := warnings.Take()
			_, has := at(kept.Object, tc.field)
			if has != (serverMinor >= nf.KeptFrom) {
				t.Fatalf("kube-apiserver 1.%d kept %s: %v, the table says it keeps it from 1.%d", serverMinor, tc.field, has, nf.KeptFrom)
			}
			unknown := slices.ContainsFunc(own, func(w string) bool { return serverOwnWarning(w, serverMinor) })
			if want := serverMinor < nf.KnownFrom; unknown != want {
				t.Errorf("the API server's own unknown-field warning: %v, want %v (%q)", unknown, want, own)
			}

			warnings.Take()
			err := c.Create(ctx, unstructuredOf(t, data), client.DryRunAll)
			got := warnings.Take()
			switch {
			case serverMinor >= nf.KeptFrom:
				if err != nil {
					t.Fatalf("kube-apiserver 1.%d keeps %s: want allowed, got %v", serverMinor, tc.field, err)
				}
				if tc.warn != "" && slices.ContainsFunc(got, func(w string) bool { return strings.HasPrefix(w, tc.warn) }) {
					t.Errorf("want no %q warning, got %q", tc.warn, got)
				}
			case tc.deny != "":
				if err == nil || !strings.Contains(err.Error(), "["+tc.deny+"]") {
					t.Fatalf("kube-apiserver 1.%d drops %s: want a [%s] denial, got %v", serverMinor, tc.field, tc.deny, err)
				}
				t.Logf("kube-apiserver 1.%d drops %s, so the webhook denies: %v", serverMinor, tc.field, err)
			default:
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(got, func(w string) bool { return strings.HasPrefix(w, tc.warn) }) {
					t.Fatalf("kube-apiserver 1.%d drops %s: want a %q warning, got %q", serverMinor, tc.field, tc.warn, got)
				}
				t.Logf("kube-apiserver 1.%d drops %s, so the webhook warns", serverMinor, tc.field)
			}
		})
	}
}
