package bench

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"

	"github.com/daemonguard/daemonguard/webhook"
)

// variants are the seed and a few edits of it that exercise other patch
// shapes and verdicts (named "(denied)" or "(warned)" when validation is
// expected to deny or warn), so the benchmarked comparison is known to compare
// like with like.
var variants = map[string]func(ds *appsv1.DaemonSet){
	// The seed runs as 65534 next to the host's processes: it warns
	// (hostpid-shared-uid), as every variant with hostPID does.
	"seed (warned)": func(*appsv1.DaemonSet) {},
	"no tolerations, no resources (warned)": func(ds *appsv1.DaemonSet) {
		spec := &ds.Spec.Template.Spec
		spec.Tolerations = nil
		spec.Containers[0].Resources = corev1.ResourceRequirements{}
	},
	"requests only, an init container, annotations (warned)": func(ds *appsv1.DaemonSet) {
		ds.Annotations = map[string]string{"team": "observability"}
		spec := &ds.Spec.Template.Spec
		spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "infra", Effect: corev1.TaintEffectNoSchedule}}
		spec.Containers[0].Resources.Limits = nil
		spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox:1.36",
			TerminationMessagePath: corev1.TerminationMessagePathDefault, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			ImagePullPolicy: corev1.PullIfNotPresent}}
	},
	"writable host root (denied) (warned)": func(ds *appsv1.DaemonSet) {
		mounts := ds.Spec.Template.Spec.Containers[0].VolumeMounts
		mounts[len(mounts)-1].ReadOnly = false
	},
	// Without hostPID and without the host's /proc (a privileged container
	// mounting it is judged as hostPID), privileged only warns.
	"privileged without hostPID (warned)": func(ds *appsv1.DaemonSet) {
		spec := &ds.Spec.Template.Spec
		spec.HostPID = false
		t := true
		spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &t}
		spec.Containers[0].VolumeMounts = nil
		spec.Volumes = nil
	},
	"privileged with the host's /proc (denied) (warned)": func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.HostPID = false
		t := true
		ds.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &t}
	},
}

// TestSameVerdictAndObject checks that daemonguard and the generic handlers,
// given the same review, answer alike: the same allowed, status and warnings,
// and patches that turn the submitted object into the same DaemonSet.
func TestSameVerdictAndObject(t *testing.T) {
	p := compiledPolicy(t)
	dm, dv := daemonguardHandlers(t, p)
	gm, gv := genericHandlers(t, p)
	for name, edit := range variants {
		t.Run(name, func(t *testing.T) {
			ds := seedDaemonSet(t)
			edit(ds)
			body := reviewBody(t, ds)
			original := requestObject(t, body)

			ours := answer(t, dm, webhook.MutatePath, body)
			theirs := answer(t, gm, webhook.MutatePath, body)
			// controller-runtime's typed defaulters cannot return warnings:
			// daemonguard's must be the policy's own (injected-limit notes).
			m := p.Mutate(t.Context(), ds.Namespace, ds.DeepCopy())
			if want := append(m.Warnings, m.Notes...); len(want) > 0 {
				theirs.Warnings = want
			}
			sameVerdict(t, "mutate", ours, theirs)
			if len(ours.Patch) == 0 {
				t.Fatal("daemonguard's mutating answer has no patch")
			}
			oursObj, theirsObj := apply(t, original, ours), apply(t, original, theirs)
			if !reflect.DeepEqual(oursObj, theirsObj) {
				t.Fatalf("patched objects differ\ndaemonguard: %s\ngeneric:     %s", oursObj, theirsObj)
			}
			var ourDS, theirDS appsv1.DaemonSet
			decodeStrict(t, oursObj, &ourDS)
			decodeStrict(t, theirsObj, &theirDS)
			if !reflect.DeepEqual(&ourDS, &theirDS) {
				t.Fatalf("patched DaemonSets differ\ndaemonguard: %+v\ngeneric:     %+v", &ourDS, &theirDS)
			}
			if ourDS.Spec.Template.Spec.PriorityClassName != "infra-daemonset" {
				t.Fatalf("priorityClassName = %q after mutation", ourDS.Spec.Template.Spec.PriorityClassName)
			}

			// The validating webhook sees the mutated object.
			vbody := reviewBody(t, &ourDS)
			ours = answer(t, dv, webhook.ValidatePath, vbody)
			theirs = answer(t, gv, webhook.ValidatePath, vbody)
			sameVerdict(t, "validate", ours, theirs)
			if denied := strings.Contains(name, "(denied)"); ours.Allowed == denied {
				t.Fatalf("validate: allowed = %v, want %v", ours.Allowed, !denied)
			}
			if warned := strings.Contains(name, "(warned)"); (len(ours.Warnings) > 0) != warned {
				t.Fatalf("validate: warnings %q, want some: %v", ours.Warnings, warned)
			}
		})
	}
}

// TestBenchmarkedVerdicts pins what the benchmarked requests do, so a policy
// change that turned them into a different path is noticed.
func TestBenchmarkedVerdicts(t *testing.T) {
	p := compiledPolicy(t)
	dm, dv := daemonguardHandlers(t, p)
	mb, vb := requests(t)
	m := answer(t, dm, webhook.MutatePath, mb)
	if !m.Allowed || len(m.Patch) == 0 || len(m.Warnings) > 0 {
		t.Fatalf("mutate: want allowed with a patch and no warnings, got %+v", m)
	}
	var ops []map[string]any
	if err := json.Unmarshal(m.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 {
		t.Fatalf("mutate: want 2 patch operations (annotation, priorityClassName), got %s", m.Patch)
	}
	v := answer(t, dv, webhook.ValidatePath, vb)
	if !v.Allowed || v.Result != nil || len(v.Warnings) != 1 || !strings.HasPrefix(v.Warnings[0], "[hostpid-shared-uid]") {
		t.Fatalf("validate: want allowed with hostpid-shared-uid's warning only, got %+v", v)
	}
}

func requestObject(t *testing.T, body []byte) []byte {
	t.Helper()
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &ar); err != nil {
		t.Fatal(err)
	}
	return ar.Request.Object.Raw
}

func answer(t *testing.T, h http.Handler, path string, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	w := newPoster(path, body).serve(h)
	if w.Code != http.StatusOK {
		t.Fatalf("%s: HTTP %d: %s", path, w.Code, w.Body)
	}
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &ar); err != nil {
		t.Fatalf("%s: decoding response: %v", path, err)
	}
	if ar.APIVersion != "admission.k8s.io/v1" || ar.Kind != "AdmissionReview" || ar.Response == nil {
		t.Fatalf("%s: not an AdmissionReview response: %s", path, w.Body)
	}
	if ar.Response.UID != "705ab4f5-6393-11e8-b7cc-42010a800002" {
		t.Fatalf("%s: response uid %q", path, ar.Response.UID)
	}
	return ar.Response
}

func sameVerdict(t *testing.T, what string, ours, theirs *admissionv1.AdmissionResponse) {
	t.Helper()
	if ours.Allowed != theirs.Allowed {
		t.Fatalf("%s: allowed: daemonguard %v, generic %v", what, ours.Allowed, theirs.Allowed)
	}
	if !reflect.DeepEqual(result(ours), result(theirs)) {
		t.Fatalf("%s: status differs\ndaemonguard: %+v\ngeneric:     %+v", what, ours.Result, theirs.Result)
	}
	if !reflect.DeepEqual(ours.Warnings, theirs.Warnings) {
		t.Fatalf("%s: warnings differ\ndaemonguard: %q\ngeneric:     %q", what, ours.Warnings, theirs.Warnings)
	}
	if (ours.PatchType == nil) != (len(ours.Patch) == 0) || (theirs.PatchType == nil) != (len(theirs.Patch) == 0) {
		t.Fatalf("%s: patchType without patch or the reverse", what)
	}
}

// result is the response's status, with controller-runtime's filler for an
// allowed answer (a bare Code: 200, set by Response.Complete) read as none.
func result(r *admissionv1.AdmissionResponse) *metav1.Status {
	if r.Allowed && r.Result != nil && reflect.DeepEqual(*r.Result, metav1.Status{Code: http.StatusOK}) {
		return nil
	}
	return r.Result
}

// apply applies the answer's JSON patch to the submitted object and returns
// the result normalised (decoded into generic JSON values), so key order and
// spacing do not matter but every field and value does.
func apply(t *testing.T, object []byte, resp *admissionv1.AdmissionResponse) map[string]any {
	t.Helper()
	out := object
	if len(resp.Patch) > 0 {
		if *resp.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Fatalf("patch type %q", *resp.PatchType)
		}
		patch, err := jsonpatch.DecodePatch(resp.Patch)
		if err != nil {
			t.Fatalf("decoding patch %s: %v", resp.Patch, err)
		}
		if out, err = patch.Apply(object); err != nil {
			t.Fatalf("applying patch %s: %v", resp.Patch, err)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func decodeStrict(t *testing.T, m map[string]any, into any) {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	strict, err := kjson.UnmarshalStrict(data, into)
	if err != nil {
		t.Fatal(err)
	}
	if len(strict) > 0 {
		t.Fatalf("patched object is not a clean DaemonSet: %v", strict)
	}
}
