package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExplainFlags(t *testing.T) {
	tests := map[string]struct {
		args      []string
		name, ns  string
		output    string
		wantError string
	}{
		"daemonset/NAME":       {args: []string{"daemonset/fluentbit"}, name: "fluentbit", output: "text"},
		"ds/NAME, -n after":    {args: []string{"ds/fluentbit", "-n", "logging", "-o", "json"}, name: "fluentbit", ns: "logging", output: "json"},
		"bare NAME":            {args: []string{"--namespace=kube-system", "fluentbit"}, name: "fluentbit", ns: "kube-system", output: "text"},
		"daemonset.apps":       {args: []string{"daemonset.apps/x"}, name: "x", output: "text"},
		"no name":              {args: []string{"-n", "x"}, wantError: "which DaemonSet?"},
		"two names":            {args: []string{"a", "b"}, wantError: "one DaemonSet at a time"},
		"a Deployment":         {args: []string{"deployment/x"}, wantError: "explain works on DaemonSets"},
		"empty name":           {args: []string{"ds/"}, wantError: "want daemonset/NAME"},
		"bad output":           {args: []string{"ds/x", "-o", "yaml"}, wantError: `-o "yaml"`},
		"bad page size":        {args: []string{"ds/x", "--page-size=0"}, wantError: "--page-size"},
		"unknown flag":         {args: []string{"ds/x", "--selector=a"}, wantError: "flag provided but not defined"},
		"--output long form":   {args: []string{"--output", "json", "ds/x"}, name: "x", output: "json"},
		"flags around the arg": {args: []string{"--context", "prod", "ds/x", "-o", "json"}, name: "x", output: "json"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseExplainFlags(tc.args, &stderr)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("err %v, want %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.name != tc.name || o.namespace != tc.ns || o.output != tc.output {
				t.Errorf("got name %q ns %q output %q", o.name, o.namespace, o.output)
			}
		})
	}
}

// TestExplainExitUsage: what cannot be answered exits 2 with a message
// naming what: a DaemonSet that does not exist, a list the credentials may
// not read, an unreachable or unconfigured cluster.
func TestExplainExitUsage(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/daemonsets/missing"):
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
		case strings.HasSuffix(r.URL.Path, "/daemonsets/agent"):
			fmt.Fprint(w, `{"kind":"DaemonSet","apiVersion":"apps/v1","metadata":{"name":"agent","namespace":"ns","uid":"u"},"spec":{"selector":{"matchLabels":{"app":"agent"}},"template":{"metadata":{"labels":{"app":"agent"}},"spec":{"containers":[{"name":"a","image":"a"}]}}}}`)
		case r.URL.Path == "/api/v1/nodes":
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"nodes is forbidden: User \"dev\" cannot list resource \"nodes\"","reason":"Forbidden","code":403}`)
		default:
			fmt.Fprint(w, `{"kind":"List","apiVersion":"v1","metadata":{},"items":[]}`)
		}
	}))
	defer api.Close()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: ns}}]
current-context: c
`, api.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args []string
		want string
	}{
		"not found":          {args: []string{"--kubeconfig", kubeconfig, "ds/missing"}, want: "daemonset ns/missing not found"},
		"forbidden":          {args: []string{"--kubeconfig", kubeconfig, "ds/agent"}, want: `listing nodes: nodes is forbidden: User "dev" cannot list resource "nodes"`},
		"no such kubeconfig": {args: []string{"--kubeconfig", filepath.Join(t.TempDir(), "none"), "ds/agent"}, want: "finding the cluster"},
		"no such context":    {args: []string{"--kubeconfig", kubeconfig, "--context", "prod", "ds/agent"}, want: `context "prod" does not exist`},
		"usage":              {args: []string{"--kubeconfig", kubeconfig}, want: "which DaemonSet?"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(append([]string{"explain"}, tc.args...), nil, &stdout, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2; stderr %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
				t.Errorf("stderr %q, want %q (stdout %q)", stderr.String(), tc.want, stdout.String())
			}
		})
	}
	// Last: it closes the server.
	t.Run("unreachable cluster", func(t *testing.T) {
		api.Close()
		var stdout, stderr bytes.Buffer
		if code := run([]string{"explain", "--kubeconfig", kubeconfig, "--timeout", "2s", "ds/agent"}, nil, &stdout, &stderr); code != 2 {
			t.Fatalf("exit %d, want 2", code)
		}
		if !strings.Contains(stderr.String(), "reading daemonset ns/agent") {
			t.Errorf("stderr %q", stderr.String())
		}
	})
}
