package chart

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"sigs.k8s.io/yaml"
)

// TestSelfManaged: the binary manages its own certificate. No cert-manager
// objects or annotations; the pods get the flags naming their Secret,
// Service and webhook configurations, and a writable certificate directory.
func TestSelfManaged(t *testing.T) {
	r := render(t, variants(t)["selfManaged/lifetimes"])
	for _, d := range r.Docs {
		if d.GVK.Group == "cert-manager.io" {
			t.Errorf("cert-manager %s %s rendered in selfManaged mode", d.GVK.Kind, d.Object.GetName())
		}
	}
	for _, w := range webhooks(t, r) {
		if len(w.annotations) != 0 || len(w.clientConfig.CABundle) != 0 {
			t.Errorf("%s: annotations %v caBundle %q; the binary injects its own CA", w.name, w.annotations, w.clientConfig.CABundle)
		}
	}
	d, c := deployment(t, r, fullname)
	a := args(c)
	want := map[string]string{
		"certificates":               "self-managed",
		"cert-secret-name":           fullname + "-tls",
		"service-name":               fullname,
		"webhook-configuration-name": fullname,
		"cert-validity":              "2160h",
		"cert-renew-before":          "360h",
	}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("--%s=%q, want %q", k, a[k], v)
		}
	}
	if v := certVolume(t, d); v.EmptyDir == nil {
		t.Errorf("certs volume = %+v, want an emptyDir the binary writes", v)
	}
	for _, m := range c.VolumeMounts {
		if m.MountPath == a["cert-dir"] && m.ReadOnly {
			t.Error("certificate directory mounted read-only; the binary writes it")
		}
	}

	// Without lifetimes the binary's own defaults apply.
	_, c = deployment(t, render(t, variants(t)["selfManaged"]), fullname)
	for _, k := range []string{"cert-validity", "cert-renew-before"} {
		if v, ok := args(c)[k]; ok {
			t.Errorf("--%s=%s passed without a value set", k, v)
		}
	}
}

// TestProvided: the user's Secret and CA bundle, nothing generated.
func TestProvided(t *testing.T) {
	values := variants(t)["provided"]
	r := render(t, values)
	var v struct {
		Certificates struct {
			Provided struct{ SecretName, CABundle string }
		}
	}
	if err := yaml.Unmarshal([]byte(values), &v); err != nil {
		t.Fatal(err)
	}
	bundle, err := base64.StdEncoding.DecodeString(v.Certificates.Provided.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range r.Docs {
		if d.GVK.Group == "cert-manager.io" || d.GVK.Kind == "Secret" {
			t.Errorf("%s %s rendered in provided mode", d.GVK.Kind, d.Object.GetName())
		}
	}
	for _, w := range webhooks(t, r) {
		if !bytes.Equal(w.clientConfig.CABundle, bundle) || len(w.annotations) != 0 {
			t.Errorf("%s: caBundle %q annotations %v, want the provided bundle and no injection", w.name, w.clientConfig.CABundle, w.annotations)
		}
	}
	d, c := deployment(t, r, fullname)
	if got := certVolume(t, d); got.Secret == nil || got.Secret.SecretName != "corp-webhook-tls" {
		t.Errorf("certs volume = %+v, want the provided Secret", got)
	}
	if _, ok := args(c)["certificates"]; ok {
		t.Error("--certificates passed in provided mode; files is the binary's default")
	}
}

// TestExternalIssuer: an existing (Cluster)Issuer replaces the chart's CA.
func TestExternalIssuer(t *testing.T) {
	r := render(t, variants(t)["certManager/external-issuer"])
	if r.hasKind("Issuer") {
		t.Errorf("chart Issuers rendered although issuerRef is set: %s", r.kinds())
	}
	serving := object[*cmapi.Certificate](t, r, fullname+"-serving")
	if ref := serving.Spec.IssuerRef; ref.Name != "corp-ca" || ref.Kind != "ClusterIssuer" || ref.Group != "cert-manager.io" {
		t.Errorf("issuerRef = %+v, want ClusterIssuer corp-ca", ref)
	}
}

// TestRenderRejects: values the binary or the API server would reject fail
// at render time, with a message naming the value.
func TestRenderRejects(t *testing.T) {
	for name, tc := range map[string]struct{ values, want string }{
		"unknown mode":            {"certificates: {mode: vault}", "certificates/mode"},
		"provided without secret": {"certificates: {mode: provided, provided: {caBundle: Zm9v}}", "secretName"},
		"provided without bundle": {"certificates: {mode: provided, provided: {secretName: s}}", "caBundle"},
		"bundle not base64":       {"certificates: {mode: provided, provided: {secretName: s, caBundle: '-----BEGIN'}}", "caBundle"},
		"typo at top level":       {"replicas: 3", "replicas"},
		"zero replicas":           {"replicaCount: 0", "replicaCount"},
		"unknown policy field":    {"policy: {mutation: {priorityClass: {nmae: x}}}", "nmae"},
		"unknown rule":            {"policy: {validation: {rules: {no-such-rule: enforce}}}", "no-such-rule"},
		"unquoted off":            {"policy: {validation: {rules: {privileged-container: off}}}", "privileged-container"},
		"bad action":              {"policy: {validation: {rules: {privileged-container: deny}}}", "privileged-container"},
		"relative host path":      {"policy: {validation: {sensitiveHostPaths: [etc]}}", "sensitiveHostPaths"},
		"bad toleration operator": {"policy: {mutation: {tolerations: {defaults: [{key: a, operator: In}]}}}", "operator"},
		"unknown exempted rule":   {"policy: {exemptions: [{namespaces: [a], rules: [nope]}]}", "exemptions"},
		"webhook timeout too big": {"webhooks: {validating: {timeoutSeconds: 31}}", "timeoutSeconds"},
		"bad failure policy":      {"webhooks: {mutating: {failurePolicy: Skip}}", "failurePolicy"},
		"bad spread":              {"podSpread: {hostname: Sometimes}", "hostname"},
		"issuerRef without name":  {"certificates: {certManager: {issuerRef: {kind: ClusterIssuer}}}", "issuerRef"},
		"bad poll interval":       {"policyPollInterval: 5", "policyPollInterval"},
		"priority above user max": {"priorityClass: {value: 2000000000}", "priorityClass"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := renderErr(t, tc.values)
			if err == nil {
				t.Fatalf("values %s rendered; want an error", tc.values)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not name %q:\n%v", tc.want, err)
			}
		})
	}
}
