package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
)

const header = "apiVersion: daemonguard.io/v1alpha1\nkind: Policy\n"

func TestDefaults(t *testing.T) {
	p := Defaults()
	if p.APIVersion != "daemonguard.io/v1alpha1" || p.Kind != "Policy" {
		t.Errorf("apiVersion/kind = %q/%q", p.APIVersion, p.Kind)
	}
	m := &p.Mutation
	for name, e := range map[string]*bool{"tolerations": m.Tolerations.Enabled, "priorityClass": m.PriorityClass.Enabled, "resources": m.Resources.Enabled} {
		if e == nil || !*e {
			t.Errorf("mutation.%s.enabled = %v, want true", name, e)
		}
	}
	wantTol := []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	if !equality.Semantic.DeepEqual(m.Tolerations.Defaults, wantTol) {
		t.Errorf("tolerations = %+v, want %+v", m.Tolerations.Defaults, wantTol)
	}
	if m.PriorityClass.Name != "infra-daemonset" {
		t.Errorf("priority class = %q", m.PriorityClass.Name)
	}
	wantReq := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	if !equality.Semantic.DeepEqual(m.Resources.Requests, wantReq) {
		t.Errorf("requests = %v, want %v", m.Resources.Requests, wantReq)
	}
	// A memory limit with headroom, no CPU limit, system-critical pods left alone.
	if l := m.Resources.MemoryLimit; !*l.Enabled || l.Minimum.String() != "512Mi" || l.RequestMultiplier != 2 {
		t.Errorf("memoryLimit = %s, want enabled, 512Mi, 2", jsonOf(l))
	}
	if l := m.Resources.CPULimit; *l.Enabled || l.Minimum.String() != "1" || l.RequestMultiplier != 2 {
		t.Errorf("cpuLimit = %s, want disabled (1, 2 when enabled)", jsonOf(l))
	}
	if got := m.Resources.SkipPriorityClasses; !equality.Semantic.DeepEqual(got, []string{"system-node-critical", "system-cluster-critical"}) {
		t.Errorf("skipPriorityClasses = %q", got)
	}
	if len(p.Validation.Rules) != 0 {
		t.Errorf("rules = %v, want none (every rule at its default)", p.Validation.Rules)
	}
	if len(p.Exemptions) != 1 || !equality.Semantic.DeepEqual(p.Exemptions[0].Namespaces, []string{"kube-system"}) ||
		p.Exemptions[0].Selector != nil || p.Exemptions[0].AnyNamespace || len(p.Exemptions[0].Rules) != 0 {
		t.Errorf("exemptions = %+v, want kube-system for everything", p.Exemptions)
	}
	if errs := ValidatePolicy(p, nil); len(errs) != 0 {
		t.Errorf("the defaults do not validate: %v", errs)
	}
	// The host path lists belong to the rules: nil means their built-in lists.
	if p.Validation.SensitiveHostPaths != nil || p.Validation.RuntimeSockets != nil {
		t.Errorf("Defaults() sets host path lists %q %q, want nil (the rules' built-in lists)", p.Validation.SensitiveHostPaths, p.Validation.RuntimeSockets)
	}
}

func TestParseMinimalIsDefaults(t *testing.T) {
	for name, in := range map[string]string{
		"yaml":                  header,
		"json":                  `{"apiVersion":"daemonguard.io/v1alpha1","kind":"Policy"}`,
		"empty sections":        header + "mutation: {}\nvalidation: {}\n",
		"null lists":            header + "exemptions: null\nvalidation:\n  sensitiveHostPaths: null\n  runtimeSockets: null\n",
		"leading document mark": "---\n" + header,
	} {
		t.Run(name, func(t *testing.T) {
			p, err := Parse([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(p, Defaults()) {
				t.Errorf("Parse = %+v\nwant     %+v", p, Defaults())
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	cases := map[string]struct {
		in    string
		check func(t *testing.T, p *Policy)
	}{
		"absent exemptions keep kube-system": {
			in: header,
			check: func(t *testing.T, p *Policy) {
				if len(p.Exemptions) != 1 || p.Exemptions[0].Namespaces[0] != "kube-system" {
					t.Errorf("exemptions = %+v", p.Exemptions)
				}
			},
		},
		"explicit empty exemptions remove kube-system": {
			in: header + "exemptions: []\n",
			check: func(t *testing.T, p *Policy) {
				if len(p.Exemptions) != 0 {
					t.Errorf("exemptions = %+v, want none", p.Exemptions)
				}
			},
		},
		"explicit exemptions replace kube-system": {
			in: header + "exemptions:\n- namespaces: [infra]\n",
			check: func(t *testing.T, p *Policy) {
				if len(p.Exemptions) != 1 || !equality.Semantic.DeepEqual(p.Exemptions[0].Namespaces, []string{"infra"}) {
					t.Errorf("exemptions = %+v, want only infra", p.Exemptions)
				}
			},
		},
		"explicit empty toleration defaults": {
			in: header + "mutation:\n  tolerations:\n    defaults: []\n",
			check: func(t *testing.T, p *Policy) {
				if p.Mutation.Tolerations.Defaults == nil || len(p.Mutation.Tolerations.Defaults) != 0 {
					t.Errorf("defaults = %#v, want empty", p.Mutation.Tolerations.Defaults)
				}
			},
		},
		"explicit empty sensitive paths": {
			in: header + "validation:\n  sensitiveHostPaths: []\n",
			check: func(t *testing.T, p *Policy) {
				if p.Validation.SensitiveHostPaths == nil || len(p.Validation.SensitiveHostPaths) != 0 {
					t.Errorf("sensitive paths = %#v, want empty", p.Validation.SensitiveHostPaths)
				}
				if p.Validation.RuntimeSockets != nil {
					t.Errorf("sockets = %q, want nil (the built-in list)", p.Validation.RuntimeSockets)
				}
			},
		},
		"explicit empty requests keep default limits": {
			in: header + "mutation:\n  resources:\n    requests: {}\n",
			check: func(t *testing.T, p *Policy) {
				if p.Mutation.Resources.Requests == nil || len(p.Mutation.Resources.Requests) != 0 {
					t.Errorf("requests = %v, want empty", p.Mutation.Resources.Requests)
				}
				if l := p.Mutation.Resources.MemoryLimit; !*l.Enabled || l.Minimum.String() != "512Mi" {
					t.Errorf("memoryLimit = %s, want the default", jsonOf(l))
				}
			},
		},
		"a limit field set alone keeps the others' defaults": {
			in: header + "mutation:\n  resources:\n    memoryLimit: {minimum: 1Gi}\n    cpuLimit: {enabled: true}\n",
			check: func(t *testing.T, p *Policy) {
				r := &p.Mutation.Resources
				if l := r.MemoryLimit; !*l.Enabled || l.Minimum.String() != "1Gi" || l.RequestMultiplier != 2 {
					t.Errorf("memoryLimit = %s", jsonOf(l))
				}
				if l := r.CPULimit; !*l.Enabled || l.Minimum.String() != "1" || l.RequestMultiplier != 2 {
					t.Errorf("cpuLimit = %s", jsonOf(l))
				}
			},
		},
		"an empty skip list skips no class": {
			in: header + "mutation:\n  resources:\n    skipPriorityClasses: []\n",
			check: func(t *testing.T, p *Policy) {
				if s := p.Mutation.Resources.SkipPriorityClasses; s == nil || len(s) != 0 {
					t.Errorf("skipPriorityClasses = %#v, want empty", s)
				}
			},
		},
		"requests replace the default list": {
			in: header + "mutation:\n  resources:\n    requests:\n      memory: 16Mi\n",
			check: func(t *testing.T, p *Policy) {
				r := p.Mutation.Resources.Requests
				if len(r) != 1 || r.Memory().String() != "16Mi" {
					t.Errorf("requests = %v, want only memory 16Mi", r)
				}
			},
		},
		"a request above every old default limit": {
			in: header + "mutation:\n  resources:\n    requests: {cpu: 2, memory: 1Gi}\n",
			check: func(t *testing.T, p *Policy) {
				if p.Mutation.Resources.Requests.Memory().String() != "1Gi" {
					t.Errorf("resources = %+v", p.Mutation.Resources)
				}
			},
		},
		"disabled mutators": {
			in: header + "mutation:\n  tolerations: {enabled: false}\n  priorityClass: {enabled: false}\n  resources: {enabled: false}\n",
			check: func(t *testing.T, p *Policy) {
				m := &p.Mutation
				if *m.Tolerations.Enabled || *m.PriorityClass.Enabled || *m.Resources.Enabled {
					t.Errorf("enabled = %v %v %v, want all false", *m.Tolerations.Enabled, *m.PriorityClass.Enabled, *m.Resources.Enabled)
				}
				// Defaults are still filled in, so re-enabling needs nothing else.
				if m.PriorityClass.Name != DefaultPriorityClass || len(m.Tolerations.Defaults) != 1 {
					t.Errorf("defaults not filled: %+v", m)
				}
			},
		},
		"rule actions": {
			in: header + "validation:\n  rules:\n    privileged-container: enforce\n    hostpid-privileged: audit\n    ineffective-toleration: off\n",
			check: func(t *testing.T, p *Policy) {
				for id, want := range map[string]Action{
					"privileged-container":        Enforce,
					"hostpid-privileged":          Audit,
					"ineffective-toleration":      Off,
					"writable-sensitive-hostpath": Enforce,
				} {
					if got := p.Action(id, Enforce); got != want {
						t.Errorf("Action(%s) = %q, want %q", id, got, want)
					}
				}
			},
		},
		"root as the only sensitive path": {
			in: header + "validation:\n  sensitiveHostPaths: [/]\n",
			check: func(t *testing.T, p *Policy) {
				if !equality.Semantic.DeepEqual(p.Validation.SensitiveHostPaths, []string{"/"}) {
					t.Errorf("sensitive paths = %q", p.Validation.SensitiveHostPaths)
				}
			},
		},
		"mutator names in exemptions": {
			in: header + "exemptions:\n- namespaces: [a]\n  rules: [tolerations, priority-class, resources, privileged-container]\n",
			check: func(t *testing.T, p *Policy) {
				if len(p.Exemptions[0].Rules) != 4 {
					t.Errorf("rules = %q", p.Exemptions[0].Rules)
				}
			},
		},
		"selector with anyNamespace": {
			in: header + "exemptions:\n- anyNamespace: true\n  selector: {matchLabels: {tier: system}}\n",
			check: func(t *testing.T, p *Policy) {
				e := p.Exemptions[0]
				if !e.AnyNamespace || e.Selector == nil || e.Selector.MatchLabels["tier"] != "system" {
					t.Errorf("exemption = %+v", e)
				}
			},
		},
		"daemonSets within namespaces": {
			in: header + "exemptions:\n- namespaces: [falco]\n  daemonSets: [falco, falco.exporter]\n  rules: [container-runtime-socket]\n",
			check: func(t *testing.T, p *Policy) {
				if e := p.Exemptions[0]; len(e.DaemonSets) != 2 || e.DaemonSets[1] != "falco.exporter" {
					t.Errorf("exemption = %+v", e)
				}
			},
		},
		"selector within namespaces": {
			in: header + "exemptions:\n- namespaces: [monitoring]\n  selector: {matchExpressions: [{key: app, operator: Exists}]}\n",
			check: func(t *testing.T, p *Policy) {
				if p.Exemptions[0].Selector == nil || len(p.Exemptions[0].Selector.MatchExpressions) != 1 {
					t.Errorf("exemption = %+v", p.Exemptions[0])
				}
			},
		},
		"NoExecute default with tolerationSeconds": {
			in: header + "mutation:\n  tolerations:\n    defaults:\n    - {key: example.com/flaky, operator: Exists, effect: NoExecute, tolerationSeconds: 60}\n",
			check: func(t *testing.T, p *Policy) {
				d := p.Mutation.Tolerations.Defaults
				if len(d) != 1 || d[0].TolerationSeconds == nil || *d[0].TolerationSeconds != 60 {
					t.Errorf("defaults = %+v", d)
				}
			},
		},
		"Equal default with empty operator": {
			in: header + "mutation:\n  tolerations:\n    defaults:\n    - {key: dedicated, value: infra}\n",
			check: func(t *testing.T, p *Policy) {
				if d := p.Mutation.Tolerations.Defaults; len(d) != 1 || d[0].Value != "infra" {
					t.Errorf("defaults = %+v", d)
				}
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tc.check(t, p)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tolerations := func(items string) string {
		return header + "mutation:\n  tolerations:\n    defaults:\n" + items
	}
	resources := func(body string) string { return header + "mutation:\n  resources:\n" + body }
	exemptions := func(items string) string { return header + "exemptions:\n" + items }

	cases := map[string]struct {
		in   string
		want []string // substrings of the error, typically "field: reason"
	}{
		// Strict decoding.
		"unknown top-level field": {
			in:   header + "exemption: []\n",
			want: []string{"decoding policy", `unknown field "exemption"`},
		},
		"unknown nested field": {
			in:   header + "mutation:\n  tolerations:\n    default: []\n",
			want: []string{`unknown field "mutation.tolerations.default"`},
		},
		"unknown field in a toleration": {
			in:   tolerations("    - {key: a, operator: Exists, effect: NoExecute, tolerationSecond: 5}\n"),
			want: []string{`unknown field "mutation.tolerations.defaults[0].tolerationSecond"`},
		},
		"unknown field in an exemption": {
			in:   exemptions("- namespace: [a]\n"),
			want: []string{`unknown field "exemptions[0].namespace"`},
		},
		"unknown field in a selector": {
			in:   exemptions("- namespaces: [a]\n  selector: {matchLabel: {a: b}}\n"),
			want: []string{`unknown field "exemptions[0].selector.matchLabel"`},
		},
		"duplicate top-level key": {
			in:   header + "kind: Policy\n",
			want: []string{"decoding policy", `key "kind" already set in map`},
		},
		"duplicate rule key": {
			in:   header + "validation:\n  rules:\n    privileged-container: warn\n    privileged-container: off\n",
			want: []string{`key "privileged-container" already set in map`},
		},
		"duplicate section": {
			in:   header + "exemptions: []\nexemptions:\n- namespaces: [a]\n",
			want: []string{`key "exemptions" already set in map`},
		},
		"not a mapping": {
			in:   "- a\n- b\n",
			want: []string{"decoding policy"},
		},
		"wrong type": {
			in:   header + "mutation:\n  priorityClass:\n    enabled: sometimes\n",
			want: []string{"decoding policy"},
		},
		"unparsable quantity": {
			in:   resources("    requests: {cpu: lots}\n"),
			want: []string{"decoding policy", "quantities must match"},
		},

		// Identity.
		"empty file": {
			in:   "",
			want: []string{`apiVersion: Unsupported value: ""`, `kind: Unsupported value: ""`},
		},
		"bad apiVersion": {
			in:   "apiVersion: daemonguard.io/v1\nkind: Policy\n",
			want: []string{"invalid policy", `apiVersion: Unsupported value: "daemonguard.io/v1": supported values: "daemonguard.io/v1alpha1"`},
		},
		"bad kind": {
			in:   "apiVersion: daemonguard.io/v1alpha1\nkind: ConfigMap\n",
			want: []string{`kind: Unsupported value: "ConfigMap": supported values: "Policy"`},
		},

		// Tolerations.
		"toleration operator": {
			in:   tolerations("    - {key: a, operator: exists}\n"),
			want: []string{`mutation.tolerations.defaults[0].operator: Unsupported value: "exists": supported values: "Exists", "Equal"`},
		},
		"toleration effect": {
			in:   tolerations("    - {key: a, operator: Exists, effect: NoSchedule}\n    - {key: b, operator: Exists, effect: NoExecution}\n"),
			want: []string{`mutation.tolerations.defaults[1].effect: Unsupported value: "NoExecution"`},
		},
		"toleration value with Exists": {
			in:   tolerations("    - {key: a, operator: Exists, value: x}\n"),
			want: []string{`mutation.tolerations.defaults[0].value: Invalid value: "x": must be empty when operator is Exists`},
		},
		"toleration Equal without key": {
			in:   tolerations("    - {operator: Equal, value: x}\n"),
			want: []string{`mutation.tolerations.defaults[0].operator: Invalid value: "Equal": must be Exists when key is empty`},
		},
		"toleration seconds without NoExecute": {
			in:   tolerations("    - {key: a, operator: Exists, effect: NoSchedule, tolerationSeconds: 30}\n"),
			want: []string{`mutation.tolerations.defaults[0].tolerationSeconds: Invalid value: 30: only applies to effect NoExecute`},
		},
		"toleration key": {
			in:   tolerations("    - {key: 'bad key!', operator: Exists}\n"),
			want: []string{`mutation.tolerations.defaults[0].key: Invalid value: "bad key!"`},
		},
		"empty-key Exists default": {
			in:   tolerations("    - {operator: Exists}\n"),
			want: []string{"mutation.tolerations.defaults[0]: Forbidden: a toleration of every taint would schedule every daemon onto every node"},
		},
		"empty-key Exists default with an effect": {
			in:   tolerations("    - {operator: Exists, effect: NoSchedule}\n"),
			want: []string{"mutation.tolerations.defaults[0]: Forbidden: a toleration of every taint"},
		},

		// Priority class.
		"priority class name": {
			in:   header + "mutation:\n  priorityClass:\n    name: Infra_DaemonSet\n",
			want: []string{`mutation.priorityClass.name: Invalid value: "Infra_DaemonSet"`, "RFC 1123 subdomain"},
		},

		// Resources.
		"the removed fixed limits point to their replacement": {
			in:   resources("    limits: {cpu: 200m, memory: 128Mi}\n"),
			want: []string{"mutation.resources.limits: Forbidden: fixed default limits were removed", "memoryLimit {minimum, requestMultiplier}"},
		},
		"zero minimum": {
			in:   resources("    memoryLimit: {minimum: 0}\n"),
			want: []string{`mutation.resources.memoryLimit.minimum: Invalid value: "0": must be positive`},
		},
		"negative minimum": {
			in:   resources("    cpuLimit: {minimum: -1}\n"),
			want: []string{`mutation.resources.cpuLimit.minimum: Invalid value: "-1": must be positive`},
		},
		"a multiplier of 1 pins the limit to the request": {
			in:   resources("    memoryLimit: {requestMultiplier: 1}\n"),
			want: []string{"mutation.resources.memoryLimit.requestMultiplier: Invalid value: 1: must be at least 2"},
		},
		"a fractional multiplier": {
			in:   resources("    memoryLimit: {requestMultiplier: 1.5}\n"),
			want: []string{"requestMultiplier"},
		},
		"bad skip class": {
			in:   resources("    skipPriorityClasses: [System_Critical]\n"),
			want: []string{`mutation.resources.skipPriorityClasses[0]: Invalid value: "System_Critical"`},
		},
		"negative request": {
			in:   resources("    requests: {memory: -1Mi}\n"),
			want: []string{`mutation.resources.requests[memory]: Invalid value: "-1Mi": must not be negative`},
		},
		"bad resource name": {
			in:   resources("    requests: {'bad name': 1}\n"),
			want: []string{`mutation.resources.requests[bad name]: Invalid value: "bad name"`},
		},

		// Rules.
		"bad action": {
			in:   header + "validation:\n  rules:\n    privileged-container: deny\n",
			want: []string{`validation.rules[privileged-container]: Invalid value: "deny": unknown action "deny": must be one of enforce, warn, audit, off`},
		},
		"capitalised action": {
			in:   header + "validation:\n  rules:\n    privileged-container: Enforce\n",
			want: []string{`validation.rules[privileged-container]: Invalid value: "Enforce"`},
		},
		"empty action": {
			in:   header + "validation:\n  rules:\n    privileged-container: ''\n",
			want: []string{`validation.rules[privileged-container]: Invalid value: ""`},
		},

		// Paths.
		"relative sensitive path": {
			in:   header + "validation:\n  sensitiveHostPaths: [/etc, etc]\n",
			want: []string{`validation.sensitiveHostPaths[1]: Invalid value: "etc": must be an absolute path`},
		},
		"empty sensitive path": {
			in:   header + "validation:\n  sensitiveHostPaths: ['']\n",
			want: []string{`validation.sensitiveHostPaths[0]: Invalid value: "": must be an absolute path`},
		},
		"unclean sensitive path": {
			in:   header + "validation:\n  sensitiveHostPaths: [/etc/]\n",
			want: []string{`validation.sensitiveHostPaths[0]: Invalid value: "/etc/": must be written cleanly, as "/etc"`},
		},
		"allowed host path not clean": {
			in:   header + "validation:\n  allowedHostPaths: [{pathPrefix: /var/lib/agent/}]\n",
			want: []string{`validation.allowedHostPaths[0].pathPrefix: Invalid value: "/var/lib/agent/": must be written cleanly, as "/var/lib/agent"`},
		},
		"allowed host path relative": {
			in:   header + "validation:\n  allowedHostPaths: [{pathPrefix: var/lib/agent, readOnly: true}]\n",
			want: []string{`validation.allowedHostPaths[0].pathPrefix: Invalid value: "var/lib/agent": must be an absolute path`},
		},
		"allowed host path root": {
			in:   header + "validation:\n  allowedHostPaths: [{pathPrefix: /}]\n",
			want: []string{`validation.allowedHostPaths[0].pathPrefix: Invalid value: "/": / would allow every path`},
		},
		"allowed host path drive root": {
			in:   header + "validation:\n  allowedHostPaths: [{pathPrefix: 'C:\\'}]\n",
			want: []string{`validation.allowedHostPaths[0].pathPrefix: Invalid value: "C:\\": a drive root would allow every path on it`},
		},
		"allowed host path missing": {
			in:   header + "validation:\n  allowedHostPaths: [{readOnly: true}]\n",
			want: []string{`validation.allowedHostPaths[0].pathPrefix: Required value`},
		},
		"dotdot sensitive path": {
			in:   header + "validation:\n  sensitiveHostPaths: [/var/lib/../lib/kubelet]\n",
			want: []string{`validation.sensitiveHostPaths[0]: Invalid value: "/var/lib/../lib/kubelet": must be written cleanly, as "/var/lib/kubelet"`},
		},
		"relative runtime socket": {
			in:   header + "validation:\n  runtimeSockets: [run/docker.sock]\n",
			want: []string{`validation.runtimeSockets[0]: Invalid value: "run/docker.sock": must be an absolute path`},
		},

		// Exemptions.
		"empty exemption": {
			in:   exemptions("- {}\n"),
			want: []string{"exemptions[0]: Required value: an exemption needs namespaces or a selector; an empty one would exempt every DaemonSet"},
		},
		"exemption with only rules": {
			in:   exemptions("- namespaces: [a]\n- rules: [privileged-container]\n"),
			want: []string{"exemptions[1]: Required value: an exemption needs namespaces or a selector"},
		},
		"exemption with only anyNamespace": {
			in:   exemptions("- anyNamespace: true\n"),
			want: []string{"exemptions[0]: Required value: an exemption needs namespaces or a selector"},
		},
		"exemption with only a reason": {
			in:   exemptions("- reason: everything\n"),
			want: []string{"exemptions[0]: Required value"},
		},
		"selector without namespaces": {
			in:   exemptions("- selector: {matchLabels: {app: node-exporter}}\n"),
			want: []string{"exemptions[0].namespaces: Required value: a selector matches labels that DaemonSet authors set themselves", "anyNamespace: true"},
		},
		"daemonSets without namespaces": {
			in:   exemptions("- daemonSets: [falco]\n"),
			want: []string{"exemptions[0].namespaces: Required value: daemonSets names DaemonSets, which are only unique within a namespace"},
		},
		"daemonSets with anyNamespace": {
			in:   exemptions("- anyNamespace: true\n  daemonSets: [falco]\n  selector: {matchLabels: {app: x}}\n"),
			want: []string{"exemptions[0].anyNamespace: Invalid value: true: cannot be used with daemonSets", "exemptions[0].namespaces: Required value: daemonSets names"},
		},
		"daemonSets with a bad name": {
			in:   exemptions("- namespaces: [a]\n  daemonSets: [ok, Not_A_Name, \"\"]\n"),
			want: []string{`exemptions[0].daemonSets[1]: Invalid value: "Not_A_Name"`, `exemptions[0].daemonSets[2]: Invalid value: ""`},
		},
		"anyNamespace with namespaces": {
			in:   exemptions("- namespaces: [a]\n  anyNamespace: true\n  selector: {matchLabels: {app: x}}\n"),
			want: []string{"exemptions[0].anyNamespace: Invalid value: true: contradicts namespaces"},
		},
		"empty selector": {
			in:   exemptions("- namespaces: [a]\n  selector: {}\n"),
			want: []string{`exemptions[0].selector: Invalid value: "{}": an empty selector matches every DaemonSet`},
		},
		"bad selector operator": {
			in:   exemptions("- namespaces: [a]\n  selector: {matchExpressions: [{key: app, operator: Like, values: [x]}]}\n"),
			want: []string{"exemptions[0].selector: Invalid value"},
		},
		"In selector without values": {
			in:   exemptions("- namespaces: [a]\n  selector: {matchExpressions: [{key: app, operator: In}]}\n"),
			want: []string{"exemptions[0].selector: Invalid value"},
		},
		"bad namespace": {
			in:   exemptions("- namespaces: [kube-system, Kube_System]\n"),
			want: []string{`exemptions[0].namespaces[1]: Invalid value: "Kube_System"`},
		},

		// Several at once: every error is reported, not just the first.
		"every error reported": {
			in: "apiVersion: v1\nkind: Policy\nvalidation:\n  rules:\n    nope: warn\n  runtimeSockets: [x]\nexemptions:\n- {}\n",
			want: []string{
				`apiVersion: Unsupported value: "v1"`,
				`validation.runtimeSockets[0]: Invalid value: "x"`,
				"exemptions[0]: Required value",
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := Parse([]byte(tc.in))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", p)
			}
			if p != nil {
				t.Errorf("Parse returned a policy along with the error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseFull(t *testing.T) {
	p, err := Load(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := &p.Mutation
	if len(m.Tolerations.Defaults) != 3 || m.Tolerations.Defaults[1].Value != "infra" || *m.Tolerations.Defaults[2].TolerationSeconds != 600 {
		t.Errorf("tolerations = %+v", m.Tolerations.Defaults)
	}
	if m.PriorityClass.Name != "platform-agents" {
		t.Errorf("priority class = %q", m.PriorityClass.Name)
	}
	r := &m.Resources
	if s := r.Requests.StorageEphemeral(); s.String() != "100Mi" || r.MemoryLimit.Minimum.String() != "256Mi" || r.MemoryLimit.RequestMultiplier != 3 ||
		!*r.CPULimit.Enabled || r.CPULimit.Minimum.String() != "1" || r.CPULimit.RequestMultiplier != 2 || len(r.SkipPriorityClasses) != 1 {
		t.Errorf("resources = %s", jsonOf(r))
	}
	if p.Action("privileged-container", Warn) != Off || p.Action("bidirectional-mount-propagation", Enforce) != Audit {
		t.Errorf("rules = %v", p.Validation.Rules)
	}
	if !equality.Semantic.DeepEqual(p.Validation.RuntimeSockets, []string{"/run/containerd/containerd.sock", "/var/run/docker.sock"}) {
		t.Errorf("sockets = %q", p.Validation.RuntimeSockets)
	}
	if len(p.Exemptions) != 3 || p.Exemptions[1].Selector.MatchLabels["app.kubernetes.io/name"] != "node-exporter" || !p.Exemptions[2].AnyNamespace {
		t.Errorf("exemptions = %+v", p.Exemptions)
	}
}

func TestLoad(t *testing.T) {
	cases := map[string]struct {
		path string
		want []string
	}{
		"minimal":  {path: "testdata/minimal.yaml"},
		"full":     {path: "testdata/full.yaml"},
		"missing":  {path: "testdata/no-such-file.yaml", want: []string{"reading policy", "no-such-file.yaml"}},
		"invalid":  {path: "testdata/invalid.yaml", want: []string{"testdata/invalid.yaml: invalid policy", `validation.rules[privileged-container]: Invalid value: "deny"`}},
		"not yaml": {path: "testdata", want: []string{"reading policy"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := Load(tc.path)
			if len(tc.want) == 0 {
				if err != nil || p == nil {
					t.Fatalf("Load = %v, %v", p, err)
				}
				return
			}
			if err == nil || p != nil {
				t.Fatalf("Load = %v, %v; want an error", p, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestAction(t *testing.T) {
	p := Defaults()
	p.Validation.Rules = map[string]Action{"privileged-container": Off}
	if got := p.Action("privileged-container", Warn); got != Off {
		t.Errorf("configured action = %q, want off", got)
	}
	if got := p.Action("hostpid-privileged", Enforce); got != Enforce {
		t.Errorf("unconfigured action = %q, want the default", got)
	}
}

// TestExampleFilesParse keeps every policy fixture in this package loadable.
func TestExampleFilesParse(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(data)
			if wantErr := strings.HasPrefix(filepath.Base(f), "invalid"); (err != nil) != wantErr {
				t.Errorf("Parse error = %v, want error %v", err, wantErr)
			}
		})
	}
}

// TestParseOffSpellings: YAML 1.1 reads a bare off as a boolean, so the
// documented `rule: off` must survive the YAML-to-JSON conversion.
func TestParseOffSpellings(t *testing.T) {
	cases := map[string]struct {
		value   string
		want    Action
		wantErr string
	}{
		"bare off":     {value: "off", want: Off},
		"quoted off":   {value: `"off"`, want: Off},
		"bare no":      {value: "no", want: Off},
		"bare false":   {value: "false", want: Off},
		"bare warn":    {value: "warn", want: Warn},
		"quoted audit": {value: "'audit'", want: Audit},
		"bare on":      {value: "on", wantErr: `validation.rules[privileged-container]: Invalid value: "true"`},
		"bare yes":     {value: "yes", wantErr: `validation.rules[privileged-container]: Invalid value: "true"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := Parse([]byte(header + "validation:\n  rules:\n    privileged-container: " + tc.value + "\n"))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Action("privileged-container", Warn); got != tc.want {
				t.Errorf("action = %q, want %q", got, tc.want)
			}
		})
	}
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
