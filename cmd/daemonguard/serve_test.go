package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad serve flags are refused with exit 2 and a message naming the flag,
// before anything reaches for a cluster.
func TestServeRefusesBadFlags(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "")
	cases := map[string]struct {
		args []string
		want string
	}{
		"unknown certificates mode":        {[]string{"--certificates", "magic"}, "--certificates"},
		"self-managed without a namespace": {[]string{"--certificates", "self-managed"}, "needs --namespace"},
		"renewal longer than the lifetime": {[]string{"--certificates", "self-managed", "--namespace", "dg", "--cert-validity", "10d", "--cert-renew-before", "20d"}, "renew"},
		"bad duration":                     {[]string{"--cert-validity", "soon"}, "cert-validity"},
		"zero poll interval":               {[]string{"--config-poll-interval", "0s"}, "--config-poll-interval must be positive"},
		"unknown match-condition mode":     {[]string{"--mutating-match-condition", "sometimes"}, `"sometimes" is not policy, always or empty`},
		"match condition without a name":   {[]string{"--mutating-match-condition", "policy", "--webhook-configuration-name", ""}, "needs --webhook-configuration-name"},
		"stray argument":                   {[]string{"extra"}, `unexpected argument "extra"`},
		"negative shutdown delay":          {[]string{"--shutdown-delay", "-1s"}, "--shutdown-delay must not be negative"},
		"negative read timeout":            {[]string{"--read-timeout", "-1s"}, "must not be negative"},
		"negative connection cap":          {[]string{"--max-connections", "-1"}, "must not be negative"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCmd(t, "", append([]string{"serve"}, tc.args...)...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", code, errOut, tc.want)
			}
		})
	}
}

// The kubeconfig path reaches the client config directly; serve never sets
// $KUBECONFIG for the rest of the process.
func TestRestConfigExplicitPath(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	path := filepath.Join(t.TempDir(), "kubeconfig")
	const kubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := restConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://127.0.0.1:6443" || cfg.BearerToken != "t" || cfg.QPS != -1 {
		t.Errorf("config = host %q token %q qps %v; want the file's server and token, client-side rate limit off", cfg.Host, cfg.BearerToken, cfg.QPS)
	}
	if v := os.Getenv("KUBECONFIG"); v != "" {
		t.Errorf("KUBECONFIG = %q after loading; serve must not change the environment", v)
	}
}
