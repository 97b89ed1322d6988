package config

import (
	"strings"
	"testing"
)

func TestParseIsStrictAboutSpelling(t *testing.T) {
	const head = "apiVersion: daemonguard.io/v1alpha1\nkind: Policy\n"
	cases := map[string]struct {
		file string
		want string
	}{
		"case variant of a top-level field": {
			file: head + "Exemptions:\n- namespaces: [kube-system]\n",
			want: `unknown field "Exemptions"`,
		},
		"case variant beside the right spelling": {
			file: head + "exemptions: []\nExemptions:\n- namespaces: [a]\n",
			want: `unknown field "Exemptions"`,
		},
		"case variant deep inside": {
			file: head + "mutation:\n  resources:\n    Requests: {cpu: 10m}\n",
			want: `unknown field "mutation.resources.Requests"`,
		},
		"case variant in a list item": {
			file: head + "mutation:\n  tolerations:\n    defaults:\n    - Key: dedicated\n      operator: Exists\n",
			want: `unknown field "mutation.tolerations.defaults[0].Key"`,
		},
		"a quantity that does not parse names its field": {
			file: head + "mutation:\n  resources:\n    requests: {memory: lots}\n",
			want: `mutation.resources.requests[memory]: Invalid value: "lots"`,
		},
		"a limit minimum that does not parse names its field": {
			file: head + "mutation:\n  resources:\n    memoryLimit: {minimum: lots}\n",
			want: `mutation.resources.memoryLimit.minimum: Invalid value: "lots"`,
		},
		"two documents": {
			file: head + "---\n" + head,
			want: "the file holds 2 YAML documents; it must hold one Policy",
		},
		"the removed limits field": {
			file: head + "mutation:\n  resources:\n    limits: {memory: 32Mi}\n",
			want: "mutation.resources.limits: Forbidden: fixed default limits were removed",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
	// A trailing document separator or comment-only document is not a second policy.
	if _, err := Parse([]byte("# policy\n---\n" + head + "---\n# end\n")); err != nil {
		t.Fatalf("comment-only documents: %v", err)
	}
}
