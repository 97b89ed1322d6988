package policy

import (
	"strings"
	"testing"

	"github.com/daemonguard/daemonguard/internal/config"
)

// TestNewRefusesNamesOnlyTheRegistriesKnow: a policy file that names an
// unknown rule or mutator, or a toleration the DaemonSet controller manages,
// parses but does not compile, and the error names the field.
func TestNewRefusesNamesOnlyTheRegistriesKnow(t *testing.T) {
	const header = "apiVersion: daemonguard.io/v1alpha1\nkind: Policy\n"
	cases := map[string]struct {
		in   string
		want []string
	}{
		"unknown rule": {
			in:   header + "validation:\n  rules:\n    no-such-rule: enforce\n",
			want: []string{`validation.rules[no-such-rule]: Unsupported value: "no-such-rule": supported values: "bidirectional-mount-propagation"`},
		},
		"mutator name is not a rule": {
			in:   header + "validation:\n  rules:\n    resources: off\n",
			want: []string{`validation.rules[resources]: Unsupported value: "resources"`},
		},
		"unknown rule in exemption": {
			in:   header + "exemptions:\n- namespaces: [a]\n  rules: [privileged-container, nope]\n",
			want: []string{`exemptions[0].rules[1]: Unsupported value: "nope"`, `"priority-class"`, `"tolerations"`},
		},
		"several at once": {
			in:   header + "validation:\n  rules:\n    nope: warn\nexemptions:\n- namespaces: [a]\n  rules: [nope]\n",
			want: []string{"validation.rules[nope]: Unsupported value", "exemptions[0].rules[0]: Unsupported value"},
		},
	}
	// The DaemonSet controller manages these tolerations itself.
	for _, key := range []string{
		"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable",
		"node.kubernetes.io/disk-pressure", "node.kubernetes.io/memory-pressure", "node.kubernetes.io/pid-pressure",
		"node.kubernetes.io/unschedulable", "node.kubernetes.io/network-unavailable",
	} {
		cases["controller-managed toleration "+key] = struct {
			in   string
			want []string
		}{
			in: header + "mutation:\n  tolerations:\n    defaults:\n" +
				"    - {key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}\n" +
				"    - {key: " + key + ", operator: Exists, effect: NoExecute, tolerationSeconds: 300}\n",
			want: []string{"mutation.tolerations.defaults[1].key: Forbidden: " + key +
				" is tolerated by the DaemonSet controller itself on every daemon pod, overwriting a template toleration with the same key (and its tolerationSeconds)"},
		}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tc.in))
			if err != nil {
				t.Fatalf("the file itself should parse: %v", err)
			}
			p, err := New(cfg, Options{})
			if err == nil {
				t.Fatalf("New succeeded: %+v", p)
			}
			if p != nil {
				t.Errorf("New returned a policy along with the error")
			}
			if !strings.HasPrefix(err.Error(), "invalid policy: ") {
				t.Errorf("error %q does not start with %q", err, "invalid policy: ")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}
