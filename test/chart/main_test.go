// Package chart tests the Helm chart in deploy/helm/daemonguard: it renders
// the chart with a real helm binary for every certificate mode and a set of
// values variants, decodes every rendered object strictly into its Go type,
// checks the properties a production install depends on, and applies the
// rendered chart with server-side dry-run to a real kube-apiserver that has
// cert-manager's CRDs installed.
//
// It needs $HELM (a helm binary) and $KUBEBUILDER_ASSETS (kube-apiserver and
// etcd); `make integration` and `make test` set both from hack/tools.sh.
package chart

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The release every test renders, as hack/render-manifests.sh does.
const (
	releaseName      = "daemonguard"
	releaseNamespace = "daemonguard"
)

var (
	// repoRoot is the repository root; chartDir the chart under test.
	repoRoot = filepath.Join("..", "..")
	chartDir = filepath.Join(repoRoot, "deploy", "helm", "daemonguard")

	// helmBin is $HELM.
	helmBin string
	// apiServer is a client of the envtest control plane (cluster admin).
	apiServer client.Client
	// scheme knows the Go type of every kind the chart can render.
	scheme = runtime.NewScheme()
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "test/chart: %v\n", err)
		return 1
	}
	crds, err := certManagerCRDs()
	if err != nil {
		fmt.Fprintf(os.Stderr, "test/chart: %v\n", err)
		return 1
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: os.Getenv("KUBEBUILDER_ASSETS"),
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "test/chart: starting kube-apiserver and etcd from $KUBEBUILDER_ASSETS: %v\n", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "test/chart: stopping the control plane: %v\n", err)
		}
	}()
	apiServer, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintf(os.Stderr, "test/chart: %v\n", err)
		return 1
	}
	if err := createNamespace(context.Background(), releaseNamespace); err != nil {
		fmt.Fprintf(os.Stderr, "test/chart: %v\n", err)
		return 1
	}
	return m.Run()
}

// setup checks the environment `make test` provides and builds the scheme.
// Missing tools are a failure, not a skip: CI must never pass a chart it
// did not render.
func setup() error {
	var missing []string
	for _, v := range []string{"HELM", "KUBEBUILDER_ASSETS"} {
		if os.Getenv(v) == "" {
			missing = append(missing, "$"+v)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not set: run `make integration`, or set HELM=$(hack/tools.sh helm) KUBEBUILDER_ASSETS=$(hack/tools.sh path) after `hack/tools.sh ensure`",
			strings.Join(missing, " and "))
	}
	helmBin = os.Getenv("HELM")
	if fi, err := os.Stat(helmBin); err != nil || fi.IsDir() {
		return fmt.Errorf("$HELM=%s is not a helm binary (run `hack/tools.sh ensure helm`)", helmBin)
	}
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, cmapi.AddToScheme, monitoringv1.AddToScheme, apiextensionsv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	return nil
}

// certManagerCRDs is the CRD directory shipped in the cert-manager module
// this repository requires, so the dry-run checks Certificates and Issuers
// against the schema of the very version the chart is tested with.
func certManagerCRDs() (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/cert-manager/cert-manager").Output()
	if err != nil {
		return "", fmt.Errorf("finding the cert-manager module (go mod download): %w", err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("finding the cert-manager module: %s %v", mod.Error, err)
	}
	dir := filepath.Join(mod.Dir, "deploy", "crds")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("cert-manager CRDs: %w", err)
	}
	return dir, nil
}
