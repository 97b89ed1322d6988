package policy

import (
	"strings"
	"testing"
)

// TestNoTolerationsForCredentialReaders: a DaemonSet that can read node or
// cluster credentials gets no default toleration (which would put it on
// control-plane nodes, next to etcd and the cluster's keys), whatever the
// credential rules' actions or exemptions; the client is told why. The
// other defaults are still applied.
func TestNoTolerationsForCredentialReaders(t *testing.T) {
	pod := func(volume, mount, podSecurity string) string {
		return `
metadata: {name: agent}
spec:
  template:
    spec:
` + podSecurity + `
      volumes: [` + volume + `]
      containers:
      - {name: agent, image: 'a:1', volumeMounts: [` + mount + `]}
`
	}
	const (
		pki     = "{name: pki, hostPath: {path: /etc/kubernetes/pki}}"
		pkiRO   = "{name: pki, mountPath: /pki, readOnly: true}"
		root    = "{name: root, hostPath: {path: /}}"
		rootRO  = "{name: root, mountPath: /host, readOnly: true}"
		logs    = "{name: logs, hostPath: {path: /var/log/agent}}"
		logsRO  = "{name: logs, mountPath: /l, readOnly: true}"
		nonRoot = "      securityContext: {runAsNonRoot: true, runAsUser: 65534}"
	)
	cases := map[string]struct {
		policy, obj string
		wantTol     bool
		wantWarning string
	}{
		"credential read":                    {obj: pod(pki, pkiRO, ""), wantWarning: "[credential-read] spec.template.spec.containers[0].volumeMounts[0]"},
		"read-only root as root (a warning)": {obj: pod(root, rootRO, ""), wantWarning: "[credential-ancestor-read]"},
		"read-only root as non-root":         {obj: pod(root, rootRO, nonRoot), wantTol: true},
		"no credentials":                     {obj: pod(logs, logsRO, ""), wantTol: true},
		"rules off still skip":               {policy: "validation: {rules: {credential-read: \"off\", credential-ancestor-read: \"off\"}}\n", obj: pod(pki, pkiRO, ""), wantWarning: "[credential-read]"},
		"rule exemption still skips": {
			policy: "exemptions: [{namespaces: [default], rules: [credential-read]}]\n", obj: pod(pki, pkiRO, ""), wantWarning: "[credential-read]",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := parsePolicy(t, tc.policy, Options{})
			ds := daemonSet(t, tc.obj)
			m := p.Mutate(t.Context(), "default", ds)
			gotTol := len(ds.Spec.Template.Spec.Tolerations) > 0
			if gotTol != tc.wantTol {
				t.Errorf("toleration injected = %v, want %v (changed %q, warnings %q)", gotTol, tc.wantTol, m.Changed, m.Warnings)
			}
			if ds.Spec.Template.Spec.PriorityClassName == "" {
				t.Errorf("priorityClassName not injected: %q", m.Changed)
			}
			found := false
			for _, w := range m.Warnings {
				if strings.HasPrefix(w, "default tolerations were not added: the DaemonSet can read node or cluster credentials ") {
					found = tc.wantWarning != "" && strings.Contains(w, tc.wantWarning) && strings.Contains(w, "next to etcd")
					if !found {
						t.Errorf("warning %q, want one naming %q", w, tc.wantWarning)
					}
				}
			}
			if (tc.wantWarning != "") != found {
				t.Errorf("warnings %q, want one naming %q", m.Warnings, tc.wantWarning)
			}
		})
	}
}
