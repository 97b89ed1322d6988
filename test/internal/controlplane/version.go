package controlplane

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
)

// ServerVersion is the running kube-apiserver's /version: which of the
// supported versions a suite runs on (make integration runs test/integration
// and test/reports on the newest and on the oldest supported one).
func (e *Env) ServerVersion() (*version.Info, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(e.Config)
	if err != nil {
		return nil, err
	}
	return dc.ServerVersion()
}

// ServerMinor is the running kube-apiserver's minor version (30 for
// v1.30.14), for the few assertions that depend on it.
func (e *Env) ServerMinor() (int, error) {
	v, err := e.ServerVersion()
	if err != nil {
		return 0, err
	}
	return Minor(v)
}

// Minor parses a /version answer's minor version; a trailing "+" (vendor
// builds) is ignored.
func Minor(v *version.Info) (int, error) {
	if v.Major != "1" {
		return 0, fmt.Errorf("kube-apiserver %s: major version %q, want 1", v.GitVersion, v.Major)
	}
	m, err := strconv.Atoi(strings.TrimSuffix(v.Minor, "+"))
	if err != nil {
		return 0, fmt.Errorf("kube-apiserver %s: minor version %q: %w", v.GitVersion, v.Minor, err)
	}
	return m, nil
}
