package chart

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// applyKinds applies the rendered objects of the given kinds for real.
func applyKinds(ctx context.Context, t *testing.T, r *Release, kinds ...string) []client.Object {
	t.Helper()
	var applied []client.Object
	for _, d := range r.Docs {
		if !slices.Contains(kinds, d.GVK.Kind) {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(d.Raw, &u.Object); err != nil {
			t.Fatal(err)
		}
		if err := apiServer.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("helm"), client.ForceOwnership); err != nil {
			t.Fatalf("applying %s %s: %v", d.GVK.Kind, d.Object.GetName(), err)
		}
		applied = append(applied, d.Object)
	}
	return applied
}

// TestRBACOnRealAPIServer installs the self-managed mode's RBAC and asks the
// API server's authorizer what the webhook's ServiceAccount may do: exactly
// its own Secret and webhook configurations, nothing next to them.
func TestRBACOnRealAPIServer(t *testing.T) {
	ctx := context.Background()
	r := render(t, "certificates: {mode: selfManaged}")
	applyKinds(ctx, t, r, "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")

	sa := "system:serviceaccount:" + releaseNamespace + ":" + fullname
	type attr = authorizationv1.ResourceAttributes
	secret := func(verb, name string) attr {
		return attr{Namespace: releaseNamespace, Verb: verb, Resource: "secrets", Name: name}
	}
	hook := func(res, verb, name string) attr {
		return attr{Group: "admissionregistration.k8s.io", Verb: verb, Resource: res, Name: name}
	}
	for _, tc := range []struct {
		attr attr
		want bool
	}{
		{attr{Group: "scheduling.k8s.io", Verb: "watch", Resource: "priorityclasses"}, true},
		{attr{Group: "scheduling.k8s.io", Verb: "create", Resource: "priorityclasses"}, false},
		{attr{Verb: "watch", Resource: "nodes"}, true},
		{attr{Verb: "patch", Resource: "nodes"}, false},
		{secret("get", "daemonguard-tls"), true},
		{secret("update", "daemonguard-tls"), true},
		{secret("watch", "daemonguard-tls"), true}, // a watch with a metadata.name field selector
		{secret("create", ""), true},
		{secret("delete", "daemonguard-tls"), false},
		{secret("get", "someone-elses-secret"), false},
		{secret("list", ""), false}, // a list of every Secret in the namespace
		{attr{Namespace: "default", Verb: "get", Resource: "secrets", Name: "daemonguard-tls"}, false},
		{attr{Namespace: "default", Verb: "create", Resource: "secrets"}, false},
		{hook("mutatingwebhookconfigurations", "patch", fullname), true},
		{hook("validatingwebhookconfigurations", "patch", fullname), true},
		{hook("validatingwebhookconfigurations", "get", fullname), true},
		{hook("validatingwebhookconfigurations", "patch", "cert-manager-webhook"), false},
		{hook("validatingwebhookconfigurations", "delete", fullname), false},
		{hook("mutatingwebhookconfigurations", "create", ""), false},
		{hook("mutatingwebhookconfigurations", "list", ""), false},
		// The validating configuration's matchConditions are read, and an
		// outdated one reported with an Event in default, nothing else.
		{attr{Group: "events.k8s.io", Namespace: "default", Verb: "create", Resource: "events"}, true},
		{attr{Group: "events.k8s.io", Namespace: "kube-system", Verb: "create", Resource: "events"}, false},
		{attr{Group: "events.k8s.io", Namespace: "default", Verb: "delete", Resource: "events"}, false},
		// reports.enabled (the default): leader election and the Reporter.
		{attr{Group: "coordination.k8s.io", Namespace: releaseNamespace, Verb: "create", Resource: "leases"}, true},
		{attr{Group: "coordination.k8s.io", Namespace: releaseNamespace, Verb: "update", Resource: "leases", Name: "daemonguard-reports"}, true},
		{attr{Group: "coordination.k8s.io", Namespace: releaseNamespace, Verb: "update", Resource: "leases", Name: "someone-elses"}, false},
		{attr{Group: "coordination.k8s.io", Namespace: "default", Verb: "create", Resource: "leases"}, false},
		{attr{Group: "apps", Verb: "list", Resource: "daemonsets"}, true},
		{attr{Group: "apps", Namespace: "default", Verb: "get", Resource: "daemonsets"}, false},
		{attr{Group: "apps", Namespace: "default", Verb: "update", Resource: "daemonsets"}, false},
		{attr{Group: "openreports.io", Namespace: "default", Verb: "update", Resource: "reports"}, true},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: sa, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + releaseNamespace, "system:authenticated"},
			ResourceAttributes: &tc.attr,
		}}
		if err := apiServer.Create(ctx, sar); err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != tc.want {
			t.Errorf("%s %s/%s %q in %q: allowed=%v, want %v (%s)", tc.attr.Verb, tc.attr.Group, tc.attr.Resource, tc.attr.Name,
				tc.attr.Namespace, sar.Status.Allowed, tc.want, sar.Status.Reason)
		}
	}
}

// TestWebhookScopeOnRealAPIServer installs the default webhook configurations
// for real, with nothing serving them, and checks on the API server which
// requests they catch: DaemonSet CREATE and UPDATE everywhere but kube-system
// and the release namespace are refused (failurePolicy Fail); status updates,
// deletes and other kinds pass.
func TestWebhookScopeOnRealAPIServer(t *testing.T) {
	ctx := context.Background()
	const guarded = "guarded"
	if err := createNamespace(ctx, guarded); err != nil {
		t.Fatal(err)
	}
	existing := daemonSet(guarded, "existing")
	if err := apiServer.Create(ctx, existing); err != nil {
		t.Fatal(err)
	}

	r := render(t, "")
	applied := applyKinds(ctx, t, r, "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
	if len(applied) != 2 {
		t.Fatalf("applied %d webhook configurations, want 2", len(applied))
	}
	t.Cleanup(func() {
		for _, o := range applied {
			if err := apiServer.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting %s: %v", o.GetName(), err)
			}
		}
	})
	// The API server picks up webhook configurations asynchronously; wait
	// until a DaemonSet create in a guarded namespace is refused.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := apiServer.Create(ctx, daemonSet(guarded, "probe"), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), mutateWebhook) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook configurations never took effect: last create returned %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	blocked := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "daemonguard.io") {
			t.Errorf("%s: %v, want refused by the unreachable webhook", what, err)
			return
		}
		t.Logf("%s refused: %v", what, err)
	}
	passed := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v, want it to pass without calling the webhook", what, err)
		}
	}
	passed("create in kube-system", apiServer.Create(ctx, daemonSet("kube-system", "cluster-agent")))
	passed("create in the release namespace", apiServer.Create(ctx, daemonSet(releaseNamespace, "own")))
	blocked("create in a guarded namespace", apiServer.Create(ctx, daemonSet(guarded, "new")))

	upd := existing.DeepCopy()
	upd.Spec.Template.Spec.Containers[0].Image = "registry.example/agent:2"
	blocked("update in a guarded namespace", apiServer.Update(ctx, upd))

	status := existing.DeepCopy()
	status.Status.ObservedGeneration = 1
	status.Status.DesiredNumberScheduled = 3
	passed("status update in a guarded namespace", apiServer.Status().Update(ctx, status))

	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: guarded, Name: "not-a-daemonset"},
		Spec:       appsv1.DeploymentSpec{Selector: existing.Spec.Selector, Template: existing.Spec.Template},
	}
	passed("create a Deployment in a guarded namespace", apiServer.Create(ctx, deploy))
	passed("delete in a guarded namespace", apiServer.Delete(ctx, existing))

	// The emergency exit the README documents: deleting the configurations
	// unblocks DaemonSet changes at once.
	for _, o := range applied {
		passed("delete "+o.GetObjectKind().GroupVersionKind().Kind, apiServer.Delete(ctx, o))
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		err := apiServer.Create(ctx, daemonSet(guarded, "after-emergency"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("DaemonSet create still refused after deleting the webhook configurations: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func daemonSet(namespace, name string) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "registry.example/agent:1"}}},
			},
		},
	}
}
