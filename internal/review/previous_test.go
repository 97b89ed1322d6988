package review

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/defaults"
	"github.com/daemonguard/daemonguard/internal/policy"
)

// fixture is an example DaemonSet as the API server sends it: defaulted,
// encoded by encoding/json (the API server's encoder sorts keys alike).
func fixture(t *testing.T, file string, edit func(*appsv1.DaemonSet)) (*appsv1.DaemonSet, []byte) {
	t.Helper()
	y, err := os.ReadFile("../../deploy/examples/" + file)
	if err != nil {
		t.Fatal(err)
	}
	ds := &appsv1.DaemonSet{}
	if err := yaml.Unmarshal(y, ds); err != nil {
		t.Fatal(err)
	}
	defaults.DaemonSet(ds)
	if edit != nil {
		edit(ds)
	}
	js, err := json.Marshal(ds)
	if err != nil {
		t.Fatal(err)
	}
	return ds, js
}

func updateReview(t *testing.T, object, old []byte) *Request {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": "u", "operation": "UPDATE", "namespace": "monitoring", "name": "x",
			"kind":   map[string]string{"group": "apps", "version": "v1", "kind": "DaemonSet"},
			"object": json.RawMessage(object), "oldObject": json.RawMessage(old),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	req, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// An UPDATE decodes its old object only when a rule needs it, and its
// verdict is the one the policy gives with the old object decoded.
func TestUpdateDecodesOldOnlyWhenNeeded(t *testing.T) {
	cfg, err := config.Parse([]byte("apiVersion: daemonguard.io/v1alpha1\nkind: Policy\nvalidation:\n  rules:\n    privileged-container: enforce\n"))
	if err != nil {
		t.Fatal(err)
	}
	absent := func(context.Context, string) (bool, error) { return false, nil }
	p, err := policy.New(cfg, policy.Options{ClassExists: absent})
	if err != nil {
		t.Fatal(err)
	}
	privileged := func(ds *appsv1.DaemonSet) {
		on := true
		ds.Spec.Template.Spec.Containers[0].SecurityContext.Privileged = &on
	}
	relabel := func(ds *appsv1.DaemonSet) { ds.Labels["team"] = "observability" }
	bump := func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image += "-2" }
	both := func(ds *appsv1.DaemonSet) { privileged(ds); bump(ds) }
	for _, tc := range []struct {
		name      string
		old, new  func(*appsv1.DaemonSet)
		decodes   bool
		allowed   bool
		ratcheted bool
	}{
		// The template's bytes are the same: the rules that read the
		// cluster are skipped without decoding the old object.
		{name: "labels only", new: relabel, allowed: true},
		// A changed template is compared semantically: the old object is
		// decoded.
		{name: "image bump", new: bump, decodes: true, allowed: true},
		// An enforced finding the old object had is excused: decoded.
		{name: "privileged before and after", old: privileged, new: both, decodes: true, allowed: true, ratcheted: true},
		// A new enforced finding: the old object is decoded to look for it.
		{name: "privileged now", new: privileged, decodes: true, allowed: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edit := func(ds *appsv1.DaemonSet) {
				if ds.Labels == nil {
					ds.Labels = map[string]string{}
				}
				if ds.Spec.Template.Spec.Containers[0].SecurityContext == nil {
					ds.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{}
				}
			}
			oldDS, oldJS := fixture(t, "node-exporter.yaml", func(ds *appsv1.DaemonSet) { edit(ds); apply(tc.old, ds) })
			newDS, newJS := fixture(t, "node-exporter.yaml", func(ds *appsv1.DaemonSet) { edit(ds); apply(tc.old, ds); apply(tc.new, ds) })
			req := updateReview(t, newJS, oldJS)
			got := Validate(t.Context(), p, req)
			if req.oldDecoded != tc.decodes {
				t.Errorf("old object decoded: %v, want %v", req.oldDecoded, tc.decodes)
			}
			want := p.Validate(t.Context(), "monitoring", oldDS, newDS)
			if !reflect.DeepEqual(got.Verdict.Violations, want.Violations) {
				t.Errorf("verdict differs from the policy's with the old object decoded:\n got  %+v\n want %+v", got.Verdict.Violations, want.Violations)
			}
			if got.Response.Allowed != want.Allowed() || got.Response.Allowed != tc.allowed {
				t.Errorf("allowed %v, the policy %v, want %v: %+v", got.Response.Allowed, want.Allowed(), tc.allowed, got.Verdict.Violations)
			}
			ratcheted := false
			for _, v := range got.Verdict.Violations {
				ratcheted = ratcheted || v.Ratcheted
			}
			if ratcheted != tc.ratcheted {
				t.Errorf("ratcheted %v, want %v", ratcheted, tc.ratcheted)
			}
		})
	}
}

// An old object that cannot be read excuses nothing.
func TestUnreadableOldExcusesNothing(t *testing.T) {
	p, err := policy.New(config.Defaults(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, unsafe := fixture(t, "unsafe/docker-socket.yaml", nil)
	for _, old := range []string{`{"spec":5}`, `{"spec":{"template":{"spec":{"containers":"x"}}}}`} {
		req := updateReview(t, unsafe, []byte(old))
		out := Validate(t.Context(), p, req)
		if out.Response.Allowed {
			t.Errorf("an unsafe UPDATE with old object %s was allowed", old)
		}
		for _, v := range out.Verdict.Violations {
			if v.Ratcheted {
				t.Errorf("old object %s excused %s", old, v.Rule)
			}
		}
	}
}

func apply(edit func(*appsv1.DaemonSet), ds *appsv1.DaemonSet) {
	if edit != nil {
		edit(ds)
	}
}
