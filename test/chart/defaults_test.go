package chart

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/webhook"
)

// The names other components rely on.
const (
	fullname       = "daemonguard"
	mutateWebhook  = "mutate.daemonguard.io"
	validateWebook = "validate.daemonguard.io"
	nonRootUID     = 65532
)

// deployment returns the rendered webhook Deployment and its one container.
func deployment(t *testing.T, r *Release, name string) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	d := object[*appsv1.Deployment](t, r, name)
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("Deployment has %d containers, want 1", n)
	}
	return d, &d.Spec.Template.Spec.Containers[0]
}

// args maps the container's --flag=value arguments.
func args(c *corev1.Container) map[string]string {
	m := map[string]string{}
	for _, a := range c.Args {
		if k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "="); ok {
			m[k] = v
		} else {
			m[strings.TrimPrefix(a, "--")] = ""
		}
	}
	return m
}

func TestDefaultDeploymentIsHighlyAvailable(t *testing.T) {
	r := render(t, "")
	d, c := deployment(t, r, fullname)
	spec := d.Spec.Template.Spec

	if got := *d.Spec.Replicas; got != 3 {
		t.Errorf("replicas = %d, want 3", got)
	}
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil {
		t.Fatalf("strategy = %+v, want RollingUpdate", d.Spec.Strategy)
	}
	if *ru.MaxUnavailable != intstr.FromInt32(0) || ru.MaxSurge.IntValue() < 1 {
		t.Errorf("rollingUpdate = maxUnavailable %v maxSurge %v, want 0 and at least 1 (keep capacity)", ru.MaxUnavailable, ru.MaxSurge)
	}

	// Spread over nodes, hard, counting only nodes the pods may run on.
	podLabels := labels.Set(d.Spec.Template.Labels)
	var byHost *corev1.TopologySpreadConstraint
	for i, tsc := range spec.TopologySpreadConstraints {
		sel, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector)
		if err != nil || !sel.Matches(podLabels) {
			t.Errorf("topology spread %s selects other pods than the webhook's: %v", tsc.TopologyKey, tsc.LabelSelector)
		}
		if tsc.TopologyKey == corev1.LabelHostname {
			byHost = &spec.TopologySpreadConstraints[i]
		}
	}
	if byHost == nil || byHost.MaxSkew != 1 || byHost.WhenUnsatisfiable != corev1.DoNotSchedule ||
		byHost.NodeTaintsPolicy == nil || *byHost.NodeTaintsPolicy != corev1.NodeInclusionPolicyHonor {
		t.Errorf("hostname spread = %+v, want maxSkew 1, DoNotSchedule, nodeTaintsPolicy Honor", byHost)
	}

	// Graceful shutdown: keep serving while endpoints update, then drain
	// in-flight reviews (each bounded by the webhook timeout) before the kill.
	pre := c.Lifecycle
	if pre == nil || pre.PreStop == nil || pre.PreStop.Sleep == nil || pre.PreStop.Sleep.Seconds < 5 {
		t.Fatalf("preStop = %+v, want a sleep of at least 5s (the image has no shell)", pre)
	}
	var timeout int64
	for _, w := range webhooks(t, r) {
		timeout = max(timeout, int64(*w.timeoutSeconds))
	}
	if grace := *spec.TerminationGracePeriodSeconds; grace < pre.PreStop.Sleep.Seconds+timeout {
		t.Errorf("terminationGracePeriodSeconds %d < preStop %ds + webhook timeout %ds", grace, pre.PreStop.Sleep.Seconds, timeout)
	}

	// Ready only when serving: /readyz on the health port the binary binds.
	rp := c.ReadinessProbe
	if rp == nil || rp.HTTPGet == nil || rp.HTTPGet.Path != "/readyz" {
		t.Fatalf("readinessProbe = %+v, want GET /readyz", rp)
	}
	a := args(c)
	if port := containerPort(t, c, rp.HTTPGet.Port); a["health-probe-bind-address"] != fmt.Sprintf(":%d", port) {
		t.Errorf("readiness probes port %d, binary binds health on %q", port, a["health-probe-bind-address"])
	}
	if lp := c.LivenessProbe; lp == nil || lp.HTTPGet == nil || lp.HTTPGet.Path != "/healthz" {
		t.Errorf("livenessProbe = %+v, want GET /healthz", lp)
	}

	if spec.PriorityClassName != "system-cluster-critical" {
		t.Errorf("priorityClassName = %q, want system-cluster-critical", spec.PriorityClassName)
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[res], c.Resources.Limits[res]
		if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
			t.Errorf("%s request %s limit %s: want both set, request <= limit", res, req.String(), lim.String())
		}
	}

	// The PDB allows a drain but never takes the webhook below 2 pods.
	pdb := object[*policyv1.PodDisruptionBudget](t, r, fullname)
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		t.Errorf("PDB selector %v does not select the webhook pods", pdb.Spec.Selector)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB maxUnavailable = %v, want 1", pdb.Spec.MaxUnavailable)
	}
}

func TestDefaultPodIsHardened(t *testing.T) {
	r := render(t, "")
	d, c := deployment(t, r, fullname)
	psc, sc := d.Spec.Template.Spec.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatal("no pod or container securityContext")
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"pod runAsNonRoot", psc.RunAsNonRoot != nil && *psc.RunAsNonRoot},
		{"pod runAsUser 65532 (the image's USER)", psc.RunAsUser != nil && *psc.RunAsUser == nonRootUID},
		{"pod runAsGroup 65532", psc.RunAsGroup != nil && *psc.RunAsGroup == nonRootUID},
		{"pod seccomp RuntimeDefault", psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"container runAsNonRoot", sc.RunAsNonRoot != nil && *sc.RunAsNonRoot},
		{"container readOnlyRootFilesystem", sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem},
		{"container allowPrivilegeEscalation false", sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation},
		{"container not privileged", sc.Privileged == nil || !*sc.Privileged},
		{"container drops ALL capabilities", sc.Capabilities != nil && slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"})},
		{"container adds no capabilities", sc.Capabilities == nil || len(sc.Capabilities.Add) == 0},
		{"container seccomp RuntimeDefault", sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"no host namespaces", !d.Spec.Template.Spec.HostNetwork && !d.Spec.Template.Spec.HostPID && !d.Spec.Template.Spec.HostIPC},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("want %s", c.what)
		}
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s is a hostPath", v.Name)
		}
	}
	sa := object[*corev1.ServiceAccount](t, r, fullname)
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("ServiceAccount mounts its token into every pod that uses it; want automountServiceAccountToken: false")
	}
}

// TestDefaultPorts: the Service routes 443 to the binary's webhook port and
// exposes metrics where the binary serves them.
func TestDefaultPorts(t *testing.T) {
	r := render(t, "")
	d, c := deployment(t, r, fullname)
	svc := object[*corev1.Service](t, r, fullname)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("Service selector %v does not select the webhook pods", svc.Spec.Selector)
	}
	a := args(c)
	want := map[string]struct {
		port, target int32
		flag         string
	}{
		"webhook": {443, 9443, a["port"]},
		"metrics": {8080, 8080, strings.TrimPrefix(a["metrics-bind-address"], ":")},
	}
	for _, p := range svc.Spec.Ports {
		w, ok := want[p.Name]
		if !ok {
			t.Errorf("unexpected Service port %s", p.Name)
			continue
		}
		delete(want, p.Name)
		target := containerPort(t, c, p.TargetPort)
		if p.Port != w.port || target != w.target || fmt.Sprint(target) != w.flag {
			t.Errorf("Service port %s: %d -> %d (binary flag %q), want %d -> %d", p.Name, p.Port, target, w.flag, w.port, w.target)
		}
	}
	for name := range want {
		t.Errorf("Service has no %s port", name)
	}
	if r.hasKind("ServiceMonitor") || r.hasKind("NetworkPolicy") {
		t.Errorf("ServiceMonitor and NetworkPolicy are optional and off by default; rendered: %s", r.kinds())
	}
}

// containerPort resolves a probe or Service target port on c.
func containerPort(t *testing.T, c *corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("container has no port named %q", p.StrVal)
	return 0
}

// webhookView is what both kinds of webhook have in common.
type webhookView struct {
	kind                    string
	name                    string
	clientConfig            admissionregistrationv1.WebhookClientConfig
	rules                   []admissionregistrationv1.RuleWithOperations
	failurePolicy           *admissionregistrationv1.FailurePolicyType
	matchPolicy             *admissionregistrationv1.MatchPolicyType
	namespaceSelector       *metav1.LabelSelector
	objectSelector          *metav1.LabelSelector
	sideEffects             *admissionregistrationv1.SideEffectClass
	timeoutSeconds          *int32
	admissionReviewVersions []string
	annotations             map[string]string
	reinvocationPolicy      *admissionregistrationv1.ReinvocationPolicyType
	configurationName       string
}

// webhooks returns every webhook of the rendered webhook configurations.
func webhooks(t *testing.T, r *Release) []webhookView {
	t.Helper()
	var out []webhookView
	for _, m := range objectsOf[*admissionregistrationv1.MutatingWebhookConfiguration](r) {
		for _, w := range m.Webhooks {
			out = append(out, webhookView{
				kind: "Mutating", name: w.Name, clientConfig: w.ClientConfig, rules: w.Rules, failurePolicy: w.FailurePolicy,
				matchPolicy: w.MatchPolicy, namespaceSelector: w.NamespaceSelector, objectSelector: w.ObjectSelector,
				sideEffects: w.SideEffects, timeoutSeconds: w.TimeoutSeconds, admissionReviewVersions: w.AdmissionReviewVersions,
				annotations: m.Annotations, reinvocationPolicy: w.ReinvocationPolicy, configurationName: m.Name,
			})
		}
	}
	for _, v := range objectsOf[*admissionregistrationv1.ValidatingWebhookConfiguration](r) {
		for _, w := range v.Webhooks {
			out = append(out, webhookView{
				kind: "Validating", name: w.Name, clientConfig: w.ClientConfig, rules: w.Rules, failurePolicy: w.FailurePolicy,
				matchPolicy: w.MatchPolicy, namespaceSelector: w.NamespaceSelector, objectSelector: w.ObjectSelector,
				sideEffects: w.SideEffects, timeoutSeconds: w.TimeoutSeconds, admissionReviewVersions: w.AdmissionReviewVersions,
				annotations: v.Annotations, configurationName: v.Name,
			})
		}
	}
	return out
}

func TestDefaultWebhookConfigurations(t *testing.T) {
	r := render(t, "")
	ws := webhooks(t, r)
	if len(ws) != 2 || ws[0].name != mutateWebhook || ws[1].name != validateWebook {
		t.Fatalf("webhooks = %+v, want %s and %s, one per configuration", ws, mutateWebhook, validateWebook)
	}
	wantRules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"daemonsets"},
			Scope: ptr(admissionregistrationv1.NamespacedScope),
		},
	}}
	wantSelector := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", releaseNamespace},
	}}}
	paths := map[string]string{mutateWebhook: webhook.MutatePath, validateWebook: webhook.ValidatePath}
	for _, w := range ws {
		t.Run(w.name, func(t *testing.T) {
			if w.configurationName != fullname {
				t.Errorf("configuration name %q, want %q", w.configurationName, fullname)
			}
			if !reflect.DeepEqual(w.rules, wantRules) {
				t.Errorf("rules = %+v, want only apps/v1 daemonsets (no subresources) on CREATE and UPDATE", w.rules)
			}
			if w.sideEffects == nil || *w.sideEffects != admissionregistrationv1.SideEffectClassNone {
				t.Errorf("sideEffects = %v, want None", w.sideEffects)
			}
			if w.timeoutSeconds == nil || *w.timeoutSeconds < 1 || *w.timeoutSeconds > 10 {
				t.Errorf("timeoutSeconds = %v, want a few seconds", w.timeoutSeconds)
			}
			if w.failurePolicy == nil || *w.failurePolicy != admissionregistrationv1.Fail {
				t.Errorf("failurePolicy = %v, want Fail", w.failurePolicy)
			}
			if w.matchPolicy == nil || *w.matchPolicy != admissionregistrationv1.Equivalent {
				t.Errorf("matchPolicy = %v, want Equivalent", w.matchPolicy)
			}
			if !reflect.DeepEqual(w.namespaceSelector, wantSelector) {
				t.Errorf("namespaceSelector = %+v, want %+v", w.namespaceSelector, wantSelector)
			}
			if w.objectSelector != nil {
				t.Errorf("objectSelector = %+v: DaemonSet authors set labels, so none may exempt them", w.objectSelector)
			}
			if !slices.Equal(w.admissionReviewVersions, []string{"v1"}) {
				t.Errorf("admissionReviewVersions = %v, want [v1]", w.admissionReviewVersions)
			}
			svc := w.clientConfig.Service
			if svc == nil || svc.Name != fullname || svc.Namespace != releaseNamespace || svc.Port == nil || *svc.Port != 443 ||
				svc.Path == nil || *svc.Path != paths[w.name] || w.clientConfig.URL != nil {
				t.Errorf("clientConfig = %+v, want Service %s/%s:443 path %s", w.clientConfig, releaseNamespace, fullname, paths[w.name])
			}
			if w.kind == "Mutating" && (w.reinvocationPolicy == nil || *w.reinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy) {
				t.Errorf("reinvocationPolicy = %v, want IfNeeded", w.reinvocationPolicy)
			}
			if len(w.clientConfig.CABundle) != 0 {
				t.Error("caBundle set in certManager mode; cert-manager's cainjector owns it")
			}
			want := releaseNamespace + "/" + fullname + "-serving"
			if got := w.annotations["cert-manager.io/inject-ca-from"]; got != want {
				t.Errorf("cert-manager.io/inject-ca-from = %q, want %q", got, want)
			}
		})
	}
}

// TestDefaultCertManager: the serving Certificate is the one both webhook
// configurations take their CA from, it is valid for the Service's DNS
// name, and its Secret is what the pods mount.
func TestDefaultCertManager(t *testing.T) {
	r := render(t, "")
	serving := object[*cmapi.Certificate](t, r, fullname+"-serving")
	if want := fullname + "." + releaseNamespace + ".svc"; !slices.Contains(serving.Spec.DNSNames, want) {
		t.Errorf("serving certificate DNS names %v lack %s", serving.Spec.DNSNames, want)
	}
	if serving.Spec.IsCA {
		t.Error("serving certificate is a CA")
	}
	issuer := object[*cmapi.Issuer](t, r, serving.Spec.IssuerRef.Name)
	if issuer.Spec.CA == nil {
		t.Fatalf("serving certificate issued by %s, want the chart's CA issuer", issuer.Name)
	}
	ca := object[*cmapi.Certificate](t, r, fullname+"-ca")
	if !ca.Spec.IsCA || ca.Spec.SecretName != issuer.Spec.CA.SecretName {
		t.Errorf("CA issuer uses Secret %s; the CA Certificate (isCA %v) writes %s", issuer.Spec.CA.SecretName, ca.Spec.IsCA, ca.Spec.SecretName)
	}
	if root := object[*cmapi.Issuer](t, r, ca.Spec.IssuerRef.Name); root.Spec.SelfSigned == nil {
		t.Errorf("CA issued by %s, want a self-signed issuer", root.Name)
	}
	if ca.Spec.Duration.Duration <= serving.Spec.Duration.Duration {
		t.Errorf("CA lifetime %v not longer than the serving certificate's %v", ca.Spec.Duration.Duration, serving.Spec.Duration.Duration)
	}
	if serving.Spec.RenewBefore == nil || serving.Spec.RenewBefore.Duration < 7*24*time.Hour {
		t.Errorf("serving certificate renewBefore = %v, want a week or more to notice failed renewals", serving.Spec.RenewBefore)
	}
	d, _ := deployment(t, r, fullname)
	if got := certVolume(t, d); got.Secret == nil || got.Secret.SecretName != serving.Spec.SecretName {
		t.Errorf("certs volume = %+v, want Secret %s", got, serving.Spec.SecretName)
	}
}

// certVolume returns the volume mounted at the binary's --cert-dir.
func certVolume(t *testing.T, d *appsv1.Deployment) corev1.VolumeSource {
	t.Helper()
	c := &d.Spec.Template.Spec.Containers[0]
	dir := args(c)["cert-dir"]
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir {
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == m.Name {
					return v.VolumeSource
				}
			}
		}
	}
	t.Fatalf("nothing mounted at --cert-dir %q", dir)
	return corev1.VolumeSource{}
}

func TestDefaultPriorityClass(t *testing.T) {
	r := render(t, "")
	pc := object[*schedulingv1.PriorityClass](t, r, config.DefaultPriorityClass)
	if pc.Value != 1000000 || pc.GlobalDefault {
		t.Errorf("PriorityClass %s value %d globalDefault %v, want 1000000, false", pc.Name, pc.Value, pc.GlobalDefault)
	}
	if pc.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Error("PriorityClass is deleted on uninstall, while pods of mutated DaemonSets still name it")
	}
}

// TestRBAC: no wildcards anywhere, and exactly what the binary uses in each
// certificate mode.
func TestRBAC(t *testing.T) {
	common := []string{
		"ClusterRole daemonguard: scheduling.k8s.io/priorityclasses [get list watch]",
		"ClusterRole daemonguard: /nodes [get list watch]",
		// Authenticated metrics (metrics.secure): who is scraping, and may they.
		"ClusterRole daemonguard-metrics-auth: authentication.k8s.io/tokenreviews [create]",
		"ClusterRole daemonguard-metrics-auth: authorization.k8s.io/subjectaccessreviews [create]",
		// reports.enabled (the default): the Reporter and its leader election.
		"ClusterRole daemonguard-reports: apps/daemonsets [list watch]",
		"ClusterRole daemonguard-reports: openreports.io/reports [get list watch create update delete]",
		"Role daemonguard-leader-election: coordination.k8s.io/leases[daemonguard-reports] [get update]",
		"Role daemonguard-leader-election: coordination.k8s.io/leases [create]",
		"Role daemonguard-leader-election: /events [create patch]",
		"Role daemonguard-leader-election: events.k8s.io/events [create patch]",
		// webhooks.mutating.matchConditions (the default): the webhook
		// writes its own mutating matchCondition.
		"ClusterRole daemonguard-match-conditions: admissionregistration.k8s.io/mutatingwebhookconfigurations[daemonguard] [get update]",
		// serve --verify-validating-match-conditions (always): it reads the
		// validating configuration and reports an outdated one with an
		// Event, which for a cluster-scoped object lives in default.
		"ClusterRole daemonguard-match-conditions: admissionregistration.k8s.io/validatingwebhookconfigurations[daemonguard] [get]",
		"Role daemonguard-match-conditions-events: events.k8s.io/events [create patch]",
		// serve --owner-events (always): a Warning Event on the owner of a
		// denied DaemonSet, in any namespace, its count patched.
		"ClusterRole daemonguard-owner-events: /events [create patch]",
	}
	selfManaged := append(slices.Clone(common),
		"ClusterRole daemonguard-webhook-configurations: admissionregistration.k8s.io/mutatingwebhookconfigurations[daemonguard] [get list watch patch]",
		"ClusterRole daemonguard-webhook-configurations: admissionregistration.k8s.io/validatingwebhookconfigurations[daemonguard] [get list watch patch]",
		"Role daemonguard-certificates: /secrets [create]",
		"Role daemonguard-certificates: /secrets[daemonguard-tls] [get list watch update]",
	)
	for name, tc := range map[string]struct {
		values string
		want   []string
	}{
		"certManager": {"", common},
		"provided":    {providedValues(t), common},
		"selfManaged": {"certificates: {mode: selfManaged}", selfManaged},
	} {
		t.Run(name, func(t *testing.T) {
			r := render(t, tc.values)
			var got []string
			roles := map[string][]rbacv1.PolicyRule{}
			for _, cr := range objectsOf[*rbacv1.ClusterRole](r) {
				roles["ClusterRole "+cr.Name] = cr.Rules
			}
			for _, role := range objectsOf[*rbacv1.Role](r) {
				roles["Role "+role.Name] = role.Rules
			}
			for role, rules := range roles {
				for _, rule := range rules {
					for _, field := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames, rule.NonResourceURLs} {
						if slices.Contains(field, "*") {
							t.Errorf("%s has a wildcard: %+v", role, rule)
						}
					}
					for _, g := range rule.APIGroups {
						for _, res := range rule.Resources {
							names := ""
							if len(rule.ResourceNames) > 0 {
								names = "[" + strings.Join(rule.ResourceNames, " ") + "]"
							}
							got = append(got, fmt.Sprintf("%s: %s/%s%s %v", role, g, res, names, rule.Verbs))
						}
					}
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("RBAC grants\n  %s\nwant exactly\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			// Every role is bound to the webhook's ServiceAccount, and nothing else is.
			bound := map[string]bool{}
			for _, b := range objectsOf[*rbacv1.ClusterRoleBinding](r) {
				checkSubjects(t, b.Name, b.Subjects)
				bound[b.RoleRef.Kind+" "+b.RoleRef.Name] = true
			}
			for _, b := range objectsOf[*rbacv1.RoleBinding](r) {
				checkSubjects(t, b.Name, b.Subjects)
				bound[b.RoleRef.Kind+" "+b.RoleRef.Name] = true
			}
			// The metrics reader is for the user to bind to their scraper, and
			// grants only GET /metrics.
			reader := "ClusterRole daemonguard-metrics-reader"
			if rules := roles[reader]; len(rules) != 1 || !slices.Equal(rules[0].NonResourceURLs, []string{"/metrics"}) ||
				!slices.Equal(rules[0].Verbs, []string{"get"}) || len(rules[0].Resources) != 0 {
				t.Errorf("%s = %+v, want only get on the /metrics non-resource URL", reader, rules)
			}
			delete(roles, reader)
			for role := range roles {
				if !bound[role] {
					t.Errorf("%s is bound by no binding", role)
				}
			}
			if len(bound) != len(roles) {
				t.Errorf("bindings refer to %v; roles are %v", bound, roles)
			}
		})
	}
}

func checkSubjects(t *testing.T, binding string, subjects []rbacv1.Subject) {
	t.Helper()
	want := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: fullname, Namespace: releaseNamespace}}
	if !reflect.DeepEqual(subjects, want) {
		t.Errorf("binding %s subjects = %+v, want only the webhook's ServiceAccount", binding, subjects)
	}
}

// TestOptionalObjects: the ServiceMonitor and NetworkPolicy render when asked
// and point at the right pods and ports.
func TestOptionalObjects(t *testing.T) {
	r := render(t, variants(t)["optional-objects-on"])
	d, c := deployment(t, r, fullname)
	podLabels := labels.Set(d.Spec.Template.Labels)
	np := object[*networkingv1.NetworkPolicy](t, r, fullname)
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || !sel.Matches(podLabels) {
		t.Errorf("NetworkPolicy selects %v, not the webhook pods", np.Spec.PodSelector)
	}
	ports := map[string]bool{}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			ports[fmt.Sprint(containerPort(t, c, *p.Port))] = true
		}
	}
	if !ports["9443"] || !ports["8080"] || len(ports) != 2 {
		t.Errorf("NetworkPolicy admits ports %v, want the webhook and metrics ports", ports)
	}
	if !r.hasKind("ServiceMonitor") {
		t.Error("no ServiceMonitor rendered")
	}
	if a := args(c); a["enable-http2"] != "" || !strings.Contains(c.Image, "@sha256:") {
		t.Errorf("args %v image %s: want --enable-http2 and a digest", c.Args, c.Image)
	}

	off := render(t, variants(t)["optional-objects-off"])
	for _, kind := range []string{"PodDisruptionBudget", "PriorityClass", "ServiceAccount", "ServiceMonitor", "NetworkPolicy"} {
		if off.hasKind(kind) {
			t.Errorf("%s rendered although disabled", kind)
		}
	}
	_, c = deployment(t, off, "dg")
	if a := args(c); a["metrics-bind-address"] != "0" {
		t.Errorf("metrics disabled but --metrics-bind-address=%q", a["metrics-bind-address"])
	}
	for _, w := range webhooks(t, off) {
		if w.configurationName != "dg" || w.clientConfig.Service.Name != "dg" {
			t.Errorf("fullnameOverride not applied to %s: %s -> %s", w.name, w.configurationName, w.clientConfig.Service.Name)
		}
	}
}

func ptr[T any](v T) *T { return &v }
