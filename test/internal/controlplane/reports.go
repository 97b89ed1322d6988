package controlplane

import (
	"path/filepath"
)

// OpenReportsCRD is the Report CRD the chart installs, relative to the
// repository root: a verbatim copy of github.com/openreports/reports-api's.
const OpenReportsCRD = "deploy/helm/daemonguard/files/openreports.io_reports.yaml"

// OpenReportsCRDPath is OpenReportsCRD as an absolute path.
func OpenReportsCRDPath() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, OpenReportsCRD), nil
}

// CertDir is the directory holding the webhook's serving certificate and
// key (tls.crt, tls.key), for tests that start more webhook replicas.
func (e *Env) CertDir() string { return e.env.WebhookInstallOptions.LocalServingCertDir }
