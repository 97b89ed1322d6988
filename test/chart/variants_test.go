package chart

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"
)

// variants are the values every test that covers "each mode and key
// values" renders: every certificate mode, and every optional object on and
// off. The values are YAML on top of the chart's defaults.
func variants(t *testing.T) map[string]string {
	return map[string]string{
		"defaults": ``,
		"certManager/external-issuer": `
certificates:
  certManager:
    issuerRef: {name: corp-ca, kind: ClusterIssuer}
`,
		"selfManaged": `
certificates:
  mode: selfManaged
`,
		"selfManaged/lifetimes": `
certificates:
  mode: selfManaged
  selfManaged: {validity: 2160h, renewBefore: 360h}
`,
		"provided": providedValues(t),
		"optional-objects-on": `
metrics:
  serviceMonitor: {enabled: true, labels: {release: prometheus}}
  prometheusRule: {enabled: true, labels: {release: prometheus}}
  grafanaDashboard: {enabled: true}
networkPolicy:
  enabled: true
  metricsFrom:
    - namespaceSelector:
        matchLabels: {kubernetes.io/metadata.name: monitoring}
image:
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
enableHTTP2: true
extraArgs: [--zap-encoder=json]
imagePullSecrets: [{name: registry}]
podAnnotations: {example.com/team: platform}
nodeSelector: {kubernetes.io/os: linux}
tolerations:
  - {key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}
`,
		"optional-objects-off": `
replicaCount: 2
podDisruptionBudget: {enabled: false}
priorityClass: {create: false}
metrics: {enabled: false}
podSpread: {hostname: ScheduleAnyway, zone: ""}
serviceAccount: {create: false, name: default}
fullnameOverride: dg
webhooks:
  excludedNamespaces: [kube-system, kube-public]
  mutating: {failurePolicy: Ignore, reinvocationPolicy: Never, timeoutSeconds: 3}
`,
		"policy": `
policy:
  mutation:
    priorityClass: {name: node-agents}
    resources: {enabled: false}
  validation:
    rules: {privileged-container: enforce, ineffective-toleration: "off"}
  exemptions:
    - namespaces: [kube-system, monitoring]
    - selector: {matchLabels: {example.com/legacy: "true"}}
      namespaces: [legacy]
      rules: [hostpid-privileged, resources]
      reason: migrating
`,
	}
}

// sortedVariants returns the variant names in a stable order.
func sortedVariants(t *testing.T) ([]string, map[string]string) {
	v := variants(t)
	names := make([]string, 0, len(v))
	for n := range v {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, v
}

// providedValues is certificates.mode=provided with a real CA bundle.
func providedValues(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	bundle := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return fmt.Sprintf(`
certificates:
  mode: provided
  provided:
    secretName: corp-webhook-tls
    caBundle: %s
`, bundle)
}

// TestLint runs helm lint --strict on every variant.
func TestLint(t *testing.T) {
	names, values := sortedVariants(t)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			out, err := helm("lint", "--strict", "deploy/helm/daemonguard", "--namespace", releaseNamespace, "-f", valuesFile(t, values[name]))
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// TestDryRun renders every variant, decodes every object strictly into its Go
// type, and applies the result with server-side dry-run to the real API
// server (with cert-manager's CRDs installed).
func TestDryRun(t *testing.T) {
	ctx := context.Background()
	names, values := sortedVariants(t)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			r := render(t, values[name])
			checkNamespaces(t, r)
			dryRun(ctx, t, r)
		})
	}
}

// TestDryRunCatchesErrors: the dry-run really validates, built-in kinds and
// cert-manager's CRDs alike.
func TestDryRunCatchesErrors(t *testing.T) {
	ctx := context.Background()
	// Values the schema cannot judge but the API server refuses.
	r := render(t, "updateStrategy: {maxSurge: 0, maxUnavailable: 0}")
	for _, d := range r.Docs {
		if d.GVK.Kind == "Deployment" {
			if err := dryRunDoc(ctx, d.Raw); err == nil {
				t.Error("dry-run accepted a Deployment with maxSurge and maxUnavailable both 0")
			}
		}
	}
	// An unknown field in a Certificate, against cert-manager's CRD schema.
	r = render(t, "")
	var found bool
	for _, d := range r.Docs {
		if d.GVK.Kind == "Certificate" {
			found = true
			bad := strings.Replace(string(d.Raw), "\nspec:\n", "\nspec:\n  noSuchField: true\n", 1)
			if bad == string(d.Raw) {
				t.Fatalf("cannot find spec in\n%s", d.Raw)
			}
			if err := dryRunDoc(ctx, []byte(bad)); err == nil || !strings.Contains(err.Error(), "noSuchField") {
				t.Errorf("dry-run of a Certificate with an unknown field: %v, want an error naming it", err)
			}
		}
	}
	if !found {
		t.Fatal("no Certificate rendered by default")
	}
}

// checkNamespaces: helm template does not set namespaces, and kubectl users
// apply the rendered files as they are, so every namespaced object must name
// the release namespace itself, and no cluster-scoped one may name any.
func checkNamespaces(t *testing.T, r *Release) {
	t.Helper()
	for _, d := range r.Docs {
		namespaced := d.GVK.Group == "monitoring.coreos.com"
		if !namespaced {
			var err error
			if namespaced, err = apiServer.IsObjectNamespaced(d.Object); err != nil {
				t.Fatalf("%s: %v", d.GVK, err)
			}
		}
		switch ns := d.Object.GetNamespace(); {
		case namespaced && ns == "default" && eventsRole(d):
			// Events about a cluster-scoped object (the validating
			// configuration) live in the default namespace.
		case namespaced && ns != releaseNamespace:
			t.Errorf("%s %s: namespace %q, want %q", d.GVK.Kind, d.Object.GetName(), ns, releaseNamespace)
		case !namespaced && ns != "":
			t.Errorf("cluster-scoped %s %s names namespace %q", d.GVK.Kind, d.Object.GetName(), ns)
		}
	}
}

// eventsRole is the Role (and its binding) that lets the webhook write
// Events about its ValidatingWebhookConfiguration.
func eventsRole(d Doc) bool {
	return (d.GVK.Kind == "Role" || d.GVK.Kind == "RoleBinding") && strings.HasSuffix(d.Object.GetName(), "-match-conditions-events")
}
