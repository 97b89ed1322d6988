package chart

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestManifestsInSync: deploy/manifests/ is what hack/render-manifests.sh
// renders from the chart now, byte for byte.
func TestManifestsInSync(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(repoRoot, "hack", "render-manifests.sh"), out)
	cmd.Env = append(os.Environ(), "HELM="+helmBin)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/render-manifests.sh: %v\n%s", err, b)
	}
	fresh, err := filepath.Glob(filepath.Join(out, "*.yaml"))
	if err != nil || len(fresh) == 0 {
		t.Fatalf("hack/render-manifests.sh rendered nothing (%v)", err)
	}
	committed, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "manifests", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(committed) != len(fresh) {
		t.Errorf("deploy/manifests has %d files, the chart renders %d: run hack/render-manifests.sh", len(committed), len(fresh))
	}
	for _, f := range fresh {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "manifests", filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("deploy/manifests/%s is out of date with the chart: run hack/render-manifests.sh", filepath.Base(f))
		}
	}
}

// TestManifestsDryRun: the committed manifests, Namespace included, are
// accepted by the API server as kubectl apply --server-side would send them.
func TestManifestsDryRun(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "manifests", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if !r.hasKind("Namespace") || !r.hasKind("MutatingWebhookConfiguration") || !r.hasKind("ValidatingWebhookConfiguration") {
				t.Errorf("%s lacks the Namespace or a webhook configuration: %s", f, r.kinds())
			}
			checkNamespaces(t, r)
			dryRun(context.Background(), t, r)
		})
	}
}
