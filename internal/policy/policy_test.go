package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/mutators"
)

// exemptionDS triggers every mutator, one enforced rule (a writable /etc)
// and one warning rule (privileged).
func exemptionDS(labels map[string]string) *appsv1.DaemonSet {
	ds := hostMountDS("agent", "/etc", false, labels)
	on := true
	ds.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &on}
	// Template labels never exempt: only the DaemonSet's own labels count.
	ds.Spec.Template.Labels = map[string]string{"app": "agent", "tier": "system", "exempt": "yes"}
	return ds
}

func TestExemptions(t *testing.T) {
	all := []string{mutators.PriorityClassName, mutators.ResourcesName, mutators.TolerationsName}
	rules := []string{rulePrivileged, ruleSensitive}
	cases := map[string]struct {
		policy       string
		own          string
		namespace    string
		labels       map[string]string
		wantMutators []string
		wantRules    []string
	}{
		"default policy, ordinary namespace": {
			namespace: "default", wantMutators: all, wantRules: rules,
		},
		"default policy, kube-system is exempt": {
			namespace: "kube-system",
		},
		"default policy, kube-system label elsewhere is not": {
			namespace: "default", labels: map[string]string{"kubernetes.io/metadata.name": "kube-system"},
			wantMutators: all, wantRules: rules,
		},
		"explicit empty exemptions remove kube-system": {
			policy: "exemptions: []\n", namespace: "kube-system", wantMutators: all, wantRules: rules,
		},
		"own namespace is exempt": {
			own: "daemonguard", namespace: "daemonguard",
		},
		"own namespace is exempt even with no exemptions": {
			policy: "exemptions: []\n", own: "daemonguard", namespace: "daemonguard",
		},
		"own namespace does not exempt others": {
			own: "daemonguard", namespace: "daemonguard-other", wantMutators: all, wantRules: rules,
		},
		"explicit list replaces kube-system": {
			policy: "exemptions:\n- namespaces: [infra]\n", namespace: "kube-system", wantMutators: all, wantRules: rules,
		},
		"namespace exemption": {
			policy: "exemptions:\n- namespaces: [infra, networking]\n", namespace: "networking",
		},
		"namespace exemption is exact": {
			policy: "exemptions:\n- namespaces: [infra]\n", namespace: "infra-dev", wantMutators: all, wantRules: rules,
		},
		"selector within namespaces, matching": {
			policy:    "exemptions:\n- namespaces: [monitoring]\n  selector: {matchLabels: {app: node-exporter}}\n",
			namespace: "monitoring", labels: map[string]string{"app": "node-exporter", "x": "y"},
		},
		"selector within namespaces, other namespace": {
			policy:    "exemptions:\n- namespaces: [monitoring]\n  selector: {matchLabels: {app: node-exporter}}\n",
			namespace: "default", labels: map[string]string{"app": "node-exporter"},
			wantMutators: all, wantRules: rules,
		},
		"selector within namespaces, labels differ": {
			policy:    "exemptions:\n- namespaces: [monitoring]\n  selector: {matchLabels: {app: node-exporter}}\n",
			namespace: "monitoring", labels: map[string]string{"app": "fluentbit"},
			wantMutators: all, wantRules: rules,
		},
		"selector within namespaces, no labels": {
			policy:       "exemptions:\n- namespaces: [monitoring]\n  selector: {matchLabels: {app: node-exporter}}\n",
			namespace:    "monitoring",
			wantMutators: all, wantRules: rules,
		},
		"selector reads the DaemonSet's labels, not the template's": {
			policy:       "exemptions:\n- anyNamespace: true\n  selector: {matchLabels: {tier: system}}\n",
			namespace:    "default",
			wantMutators: all, wantRules: rules,
		},
		"anyNamespace selector, matching": {
			policy:    "exemptions:\n- anyNamespace: true\n  selector: {matchLabels: {tier: system}}\n",
			namespace: "anywhere", labels: map[string]string{"tier": "system"},
		},
		"anyNamespace selector, not matching": {
			policy:    "exemptions:\n- anyNamespace: true\n  selector: {matchLabels: {tier: system}}\n",
			namespace: "anywhere", labels: map[string]string{"tier": "user"},
			wantMutators: all, wantRules: rules,
		},
		"matchExpressions selector": {
			policy:    "exemptions:\n- anyNamespace: true\n  selector: {matchExpressions: [{key: platform.example.com/agent, operator: Exists}]}\n",
			namespace: "x", labels: map[string]string{"platform.example.com/agent": ""},
		},
		"by name": {
			policy:    "exemptions:\n- namespaces: [infra]\n  daemonSets: [agent]\n",
			namespace: "infra",
		},
		"by name, another namespace": {
			policy:    "exemptions:\n- namespaces: [infra]\n  daemonSets: [agent]\n",
			namespace: "default", wantMutators: all, wantRules: rules,
		},
		"by name, another name": {
			policy:    "exemptions:\n- namespaces: [infra]\n  daemonSets: [other-agent]\n",
			namespace: "infra", wantMutators: all, wantRules: rules,
		},
		"by name and selector: both must hold": {
			policy:    "exemptions:\n- namespaces: [infra]\n  daemonSets: [agent]\n  selector: {matchLabels: {tier: system}}\n",
			namespace: "infra", labels: map[string]string{"tier": "user"}, wantMutators: all, wantRules: rules,
		},
		"by name, per rule": {
			policy:    "exemptions:\n- namespaces: [infra]\n  daemonSets: [agent]\n  rules: [writable-sensitive-hostpath]\n",
			namespace: "infra", wantMutators: all, wantRules: []string{rulePrivileged},
		},
		"per-rule exemption": {
			policy:    "exemptions:\n- namespaces: [infra]\n  rules: [writable-sensitive-hostpath]\n",
			namespace: "infra", wantMutators: all, wantRules: []string{rulePrivileged},
		},
		"per-rule exemption in another namespace": {
			policy:    "exemptions:\n- namespaces: [infra]\n  rules: [writable-sensitive-hostpath]\n",
			namespace: "default", wantMutators: all, wantRules: rules,
		},
		"per-mutator exemption": {
			policy:    "exemptions:\n- namespaces: [infra]\n  rules: [priority-class]\n",
			namespace: "infra", wantMutators: []string{mutators.ResourcesName, mutators.TolerationsName}, wantRules: rules,
		},
		"mutators and rules mixed": {
			policy:    "exemptions:\n- namespaces: [infra]\n  rules: [tolerations, resources, privileged-container]\n",
			namespace: "infra", wantMutators: []string{mutators.PriorityClassName}, wantRules: []string{ruleSensitive},
		},
		"several exemptions combine": {
			policy: "exemptions:\n- namespaces: [infra]\n  rules: [tolerations]\n" +
				"- anyNamespace: true\n  selector: {matchLabels: {tier: system}}\n  rules: [writable-sensitive-hostpath]\n",
			namespace: "infra", labels: map[string]string{"tier": "system"},
			wantMutators: []string{mutators.PriorityClassName, mutators.ResourcesName}, wantRules: []string{rulePrivileged},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := parsePolicy(t, tc.policy, Options{OwnNamespace: tc.own})
			ds := exemptionDS(tc.labels)
			before := ds.DeepCopy()
			m := p.Mutate(t.Context(), tc.namespace, ds)
			if got := mutatorsRun(m); !equalStrings(got, tc.wantMutators) {
				t.Errorf("mutators that changed something = %q, want %q", got, tc.wantMutators)
			}
			if len(tc.wantMutators) == 0 && !equality.Semantic.DeepEqual(before, ds) {
				t.Errorf("an exempt DaemonSet was modified")
			}
			v := p.Validate(t.Context(), tc.namespace, nil, ds)
			var got []string
			for _, x := range v.Violations {
				got = append(got, x.Rule)
			}
			sort.Strings(got)
			if !equalStrings(got, tc.wantRules) {
				t.Errorf("rules = %q, want %q", got, tc.wantRules)
			}
			if want := !slices.Contains(tc.wantRules, ruleSensitive); v.Allowed() != want {
				t.Errorf("Allowed() = %v, want %v", v.Allowed(), want)
			}
		})
	}
}

func TestRuleActions(t *testing.T) {
	cases := map[string]struct {
		policy     string
		wantAction string // "" means no violation
	}{
		"default enforce":  {wantAction: Deny},
		"explicit enforce": {policy: "validation: {rules: {writable-sensitive-hostpath: enforce}}\n", wantAction: Deny},
		"warn":             {policy: "validation: {rules: {writable-sensitive-hostpath: warn}}\n", wantAction: Warn},
		"audit":            {policy: "validation: {rules: {writable-sensitive-hostpath: audit}}\n", wantAction: Audit},
		"off":              {policy: "validation: {rules: {writable-sensitive-hostpath: off}}\n"},
		"off quoted":       {policy: "validation: {rules: {writable-sensitive-hostpath: \"off\"}}\n"},
		"other rule off":   {policy: "validation: {rules: {privileged-container: off}}\n", wantAction: Deny},
	}
	const fieldPath = "spec.template.spec.containers[0].volumeMounts[0]"
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := parsePolicy(t, tc.policy, Options{})
			v := p.Validate(t.Context(), "default", nil, hostMountDS("agent", "/etc", false, nil))
			if tc.wantAction == "" {
				if len(v.Violations) != 0 || !v.Allowed() || len(v.Denials()) != 0 || len(v.Warnings()) != 0 {
					t.Fatalf("violations = %+v, want none", v.Violations)
				}
				return
			}
			assertBriefs(t, v, []brief{{ruleSensitive, tc.wantAction, fieldPath, false}})
			x := v.Violations[0]
			wantMsg := `container "agent" mounts host path "/etc" (volume "host") at "/host" writable, which is the sensitive host path "/etc": the node runs, trusts or configures itself from it as root; set readOnly: true`
			if x.Message != wantMsg {
				t.Errorf("message = %q, want %q", x.Message, wantMsg)
			}
			if v.Allowed() != (tc.wantAction != Deny) {
				t.Errorf("Allowed() = %v", v.Allowed())
			}
			denials, warnings := v.Denials(), v.Warnings()
			switch tc.wantAction {
			case Deny:
				want := field.ErrorList{{Type: field.ErrorTypeForbidden, Field: fieldPath, Detail: "[" + ruleSensitive + "] " + wantMsg}}
				if !equality.Semantic.DeepEqual(denials, want) || len(warnings) != 0 {
					t.Errorf("denials = %v, warnings = %q", denials, warnings)
				}
			case Warn:
				want := []string{"[" + ruleSensitive + "] " + fieldPath + ": " + wantMsg}
				if len(denials) != 0 || !equalStrings(warnings, want) {
					t.Errorf("denials = %v, warnings = %q, want %q", denials, warnings, want)
				}
			case Audit:
				// Audit findings are recorded, never shown to the client.
				if len(denials) != 0 || len(warnings) != 0 {
					t.Errorf("denials = %v, warnings = %q", denials, warnings)
				}
			}
		})
	}
}

func TestDefaultRuleActions(t *testing.T) {
	p := parsePolicy(t, "", Options{})
	ds := daemonSet(t, `
metadata: {name: agent}
spec:
  template:
    spec:
      tolerations:
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 300}
      initContainers:
      - name: init
        image: x
        securityContext: {privileged: true}
      containers:
      - name: agent
        image: x
`)
	v := p.Validate(t.Context(), "default", nil, ds)
	assertBriefs(t, v, []brief{
		{rulePrivileged, Warn, "spec.template.spec.initContainers[0].securityContext.privileged", false},
		{ruleToleration, Warn, "spec.template.spec.tolerations[0].tolerationSeconds", false},
	})
	if !v.Allowed() || len(v.Warnings()) != 2 {
		t.Errorf("Allowed() = %v, Warnings() = %q", v.Allowed(), v.Warnings())
	}
}

func TestRatcheting(t *testing.T) {
	const (
		c0m0 = mount0
		c0m1 = "spec.template.spec.containers[0].volumeMounts[1]"
		c1m0 = "spec.template.spec.containers[1].volumeMounts[0]"
	)
	// Containers "a" (writes /etc) and "b" (clean), in the given order,
	// with the volumes they mount (an unmounted hostPath volume is a
	// finding of its own).
	pod := func(containers string) string {
		volumes := ""
		for name, path := range map[string]string{"etc": "/etc", "etc2": "/etc", "logs": "/var/log", "sock": "/var/run/docker.sock"} {
			if strings.Contains(containers, "{name: "+name+",") {
				volumes += "      - {name: " + name + ", hostPath: {path: " + path + "}}\n"
			}
		}
		return `
metadata: {name: agent}
spec:
  template:
    spec:
      volumes:
` + volumes + `      containers:
` + containers
	}
	const (
		a        = "      - {name: a, image: 'a:1', volumeMounts: [{name: etc, mountPath: /e}]}\n"
		aBumped  = "      - {name: a, image: 'a:2', volumeMounts: [{name: etc, mountPath: /e}]}\n"
		aTwice   = "      - {name: a, image: 'a:1', volumeMounts: [{name: etc, mountPath: /e}, {name: etc, mountPath: /e}]}\n"
		aMoved   = "      - {name: a, image: 'a:1', volumeMounts: [{name: etc, mountPath: /elsewhere}]}\n"
		aRenamed = "      - {name: a, image: 'a:1', volumeMounts: [{name: etc2, mountPath: /e}]}\n"
		aSubDir  = "      - {name: a, image: 'a:1', volumeMounts: [{name: etc, mountPath: /e, subPath: cni}]}\n"
		aRO      = "      - {name: a, image: 'a:1', volumeMounts: [{name: etc, mountPath: /e, readOnly: true}, {name: sock, mountPath: /s, readOnly: true}]}\n"
		aSockRW  = "      - {name: a, image: 'a:1', volumeMounts: [{name: etc, mountPath: /e, readOnly: true}, {name: sock, mountPath: /s}]}\n"
		aInit    = "      initContainers:\n      - {name: a, image: 'a:1', volumeMounts: [{name: etc, mountPath: /e}]}\n      containers:\n"
		aFixed   = "      - {name: a, image: 'a:1', volumeMounts: [{name: etc, mountPath: /e, readOnly: true}]}\n"
		aSocket  = "      - {name: a, image: 'a:1', volumeMounts: [{name: etc, mountPath: /e}, {name: sock, mountPath: /s, readOnly: true}]}\n"
		aOneDir  = "      - {name: a, image: 'a:1', env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}], volumeMounts: [{name: etc, mountPath: /e, subPathExpr: '$(POD_NAME)'}]}\n"
		b        = "      - {name: b, image: 'b:1', volumeMounts: [{name: logs, mountPath: /l, readOnly: true}]}\n"
		bWritesE = "      - {name: b, image: 'b:1', volumeMounts: [{name: etc, mountPath: /e}]}\n"
		bPriv    = "      - {name: b, image: 'b:1', securityContext: {privileged: true}}\n"
	)
	cases := map[string]struct {
		old, new string // container lists; old "" means CREATE
		want     []brief
	}{
		"create denies": {
			new:  a + b,
			want: []brief{{ruleSensitive, Deny, c0m0, false}},
		},
		"update keeping the violation ratchets": {
			old: a + b, new: aBumped + b,
			want: []brief{{ruleSensitive, Warn, c0m0, true}},
		},
		"new violation on update denies": {
			old: b, new: a + b,
			want: []brief{{ruleSensitive, Deny, c0m0, false}},
		},
		// A second mount of the same host path in the same container grants
		// nothing the first did not.
		"second copy of an old violation grants nothing new": {
			old: a + b, new: aTwice + b,
			want: []brief{{ruleSensitive, Warn, c0m0, true}, {ruleSensitive, Warn, c0m1, true}},
		},
		"reordered containers still ratchet": {
			old: a + b, new: b + a,
			want: []brief{{ruleSensitive, Warn, c1m0, true}},
		},
		// Containers of a pod can hand each other open files: the same
		// access in another container of the pod grants nothing new.
		"same violation in another container grants nothing new": {
			old: a + b, new: a + bWritesE,
			want: []brief{{ruleSensitive, Warn, c0m0, true}, {ruleSensitive, Warn, c1m0, true}},
		},
		// The ratchet key is the resolved access: moving the mount or
		// renaming its volume grants nothing new.
		"changed mount path ratchets": {
			old: a + b, new: aMoved + b,
			want: []brief{{ruleSensitive, Warn, c0m0, true}},
		},
		"renamed volume ratchets": {
			old: a + b, new: aRenamed + b,
			want: []brief{{ruleSensitive, Warn, c0m0, true}},
		},
		// Access within the old access is not new: teams can narrow
		// grandfathered access step by step.
		"narrowed by subPath ratchets": {
			old: a + b, new: aSubDir + b,
			want: []brief{{ruleSensitive, Warn, c0m0, true}, {"credential-read", Warn, c0m0, true}},
		},
		"read-only socket made writable is new access": {
			old: aRO + b, new: aSockRW + b,
			want: []brief{{"credential-ancestor-read", Warn, c0m0, false}, {ruleSocket, Deny, c0m1, false}},
		},
		"moved into an init container is new": {
			old: a + b, new: "      - {name: b, image: 'b:1', volumeMounts: [{name: logs, mountPath: /l, readOnly: true}]}\n" + strings.Replace(aInit, "      containers:\n", "", 1),
			want: []brief{{ruleSensitive, Deny, "spec.template.spec.initContainers[0].volumeMounts[0]", false}},
		},
		"new violation of another rule next to a ratcheted one": {
			old: a + b, new: aSocket + b,
			want: []brief{{ruleSensitive, Warn, c0m0, true}, {ruleSocket, Deny, c0m1, false}},
		},
		"dropping a subPathExpr widens the mount: a new violation": {
			old: aOneDir + b, new: a + b,
			want: []brief{{ruleSensitive, Deny, c0m0, false}},
		},
		"fixed violation leaves only the warning about reading /etc as root": {
			old: a + b, new: aFixed + b,
			want: []brief{{"credential-ancestor-read", Warn, c0m0, false}},
		},
		"warn rules are not ratcheted": {
			old: a + bPriv, new: a + bPriv,
			want: []brief{{ruleSensitive, Warn, c0m0, true}, {rulePrivileged, Warn, "spec.template.spec.containers[1].securityContext.privileged", false}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := parsePolicy(t, "", Options{})
			var old *appsv1.DaemonSet
			if tc.old != "" {
				old = daemonSet(t, pod(tc.old))
			}
			v := p.Validate(t.Context(), "default", old, daemonSet(t, pod(tc.new)))
			assertBriefs(t, v, tc.want)
			for _, x := range v.Violations {
				if x.Ratcheted != strings.HasSuffix(x.Message, "(already present before this update; fix it before it becomes a denial)") {
					t.Errorf("ratcheted %v but message %q", x.Ratcheted, x.Message)
				}
			}
			wantAllowed := true
			for _, w := range tc.want {
				if w.action == Deny {
					wantAllowed = false
				}
			}
			if v.Allowed() != wantAllowed {
				t.Errorf("Allowed() = %v, want %v", v.Allowed(), wantAllowed)
			}
		})
	}
}

// TestRatchetingHostPIDImageBump: a pre-existing hostPID DaemonSet with
// several enforced violations can still roll out an image bump.
func TestRatchetingHostPIDImageBump(t *testing.T) {
	obj := func(image string) string {
		return `
metadata: {name: agent}
spec:
  template:
    spec:
      hostPID: true
      volumes:
      - {name: logs, hostPath: {path: /var/log/agent}}
      containers:
      - name: agent
        image: ` + image + `
        securityContext: {privileged: true, capabilities: {add: [SYS_ADMIN]}}
        volumeMounts: [{name: logs, mountPath: /l}]
`
	}
	p := parsePolicy(t, "", Options{})
	want := []brief{
		{ruleHostPIDWritable, Warn, "spec.template.spec.containers[0].volumeMounts[0]", true},
		{ruleHostPIDPriv, Warn, "spec.template.spec.containers[0].securityContext.capabilities.add[0]", true},
		{ruleHostPIDPriv, Warn, "spec.template.spec.containers[0].securityContext.privileged", true},
		{"unknown-writable-hostpath", Warn, "spec.template.spec.containers[0].volumeMounts[0]", true},
	}
	v := p.Validate(t.Context(), "default", daemonSet(t, obj("agent:1")), daemonSet(t, obj("agent:2")))
	assertBriefs(t, v, want)
	if !v.Allowed() {
		t.Errorf("image bump denied")
	}
	// The same object on CREATE is denied four times over.
	if v := p.Validate(t.Context(), "default", nil, daemonSet(t, obj("agent:2"))); len(v.Denials()) != 4 {
		t.Errorf("create: denials = %v", v.Denials())
	}
}

func TestInjectedAnnotation(t *testing.T) {
	cases := map[string]struct {
		annotations map[string]string
		spec        string
		wantChanged []string
		want        string // annotation value; "" means absent
		wantOthers  map[string]string
	}{
		"recorded": {
			spec: "containers: [{name: a, image: x}]",
			wantChanged: []string{
				"spec.template.spec.tolerations[0]",
				"spec.template.spec.priorityClassName",
				"spec.template.spec.containers[0].resources.requests.cpu",
				"spec.template.spec.containers[0].resources.requests.memory",
				"spec.template.spec.containers[0].resources.limits.memory",
			},
			want: "spec.template.spec.containers[0].resources.limits.memory," +
				"spec.template.spec.containers[0].resources.requests.cpu,spec.template.spec.containers[0].resources.requests.memory," +
				"spec.template.spec.priorityClassName,spec.template.spec.tolerations[0]",
		},
		"merged with an existing value, other annotations kept": {
			annotations: map[string]string{
				InjectedAnnotation: "spec.template.spec.tolerations[0],spec.template.spec.containers[0].resources.requests.cpu",
				"team":             "platform",
			},
			spec: `tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]
containers: [{name: a, image: x, resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: 200m, memory: 128Mi}}}]`,
			wantChanged: []string{"spec.template.spec.priorityClassName"},
			want:        "spec.template.spec.containers[0].resources.requests.cpu,spec.template.spec.priorityClassName,spec.template.spec.tolerations[0]",
			wantOthers:  map[string]string{"team": "platform"},
		},
		"merged without duplicates": {
			annotations: map[string]string{InjectedAnnotation: "spec.template.spec.priorityClassName"},
			spec: `tolerations: [{operator: Exists}]
containers: [{name: a, image: x, resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: 200m, memory: 128Mi}}}]`,
			wantChanged: []string{"spec.template.spec.priorityClassName"},
			want:        "spec.template.spec.priorityClassName",
		},
		"nothing injected, nothing recorded": {
			spec: `priorityClassName: system-node-critical
tolerations: [{operator: Exists}]
containers: [{name: a, image: x, resources: {requests: {cpu: 1, memory: 1Gi}, limits: {cpu: 1, memory: 1Gi}}}]`,
		},
		"nothing injected, existing value untouched": {
			annotations: map[string]string{InjectedAnnotation: "b,a"},
			spec: `priorityClassName: system-node-critical
tolerations: [{operator: Exists}]
containers: [{name: a, image: x, resources: {requests: {cpu: 1, memory: 1Gi}, limits: {cpu: 1, memory: 1Gi}}}]`,
			want: "b,a",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := parsePolicy(t, "", Options{})
			ds := daemonSet(t, "metadata: {name: agent}\nspec:\n  template:\n    spec:\n"+indent(tc.spec, "      "))
			ds.Annotations = tc.annotations
			m := p.Mutate(t.Context(), "default", ds)
			if !equalStrings(m.Changed, tc.wantChanged) {
				t.Errorf("Changed = %q\nwant      %q", m.Changed, tc.wantChanged)
			}
			got, ok := ds.Annotations[InjectedAnnotation]
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("annotation = %q (present %v)\nwant         %q", got, ok, tc.want)
			}
			for k, v := range tc.wantOthers {
				if ds.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q", k, ds.Annotations[k], v)
				}
			}
			if tc.annotations == nil && tc.want == "" && ds.Annotations != nil {
				t.Errorf("annotations created with nothing to record: %v", ds.Annotations)
			}
			if _, onTemplate := ds.Spec.Template.Annotations[InjectedAnnotation]; onTemplate {
				t.Errorf("annotation written to the pod template, which would roll every pod")
			}
			// A second pass changes nothing, the annotation included.
			once := ds.DeepCopy()
			if again := p.Mutate(t.Context(), "default", ds); len(again.Changed) != 0 || again.ByMutator != nil {
				t.Errorf("second pass changed %q", again.Changed)
			}
			if !equality.Semantic.DeepEqual(once, ds) {
				t.Errorf("second pass modified the object")
			}
		})
	}
}

func TestMutationCounts(t *testing.T) {
	p := parsePolicy(t, "", Options{})
	ds := daemonSet(t, `
metadata: {name: agent}
spec:
  template:
    spec:
      initContainers: [{name: i, image: x}]
      containers: [{name: a, image: x}, {name: b, image: x, resources: {limits: {cpu: 10m}}}]
`)
	m := p.Mutate(t.Context(), "default", ds)
	// 3 per container (requests cpu and memory, a memory limit), less
	// container b's CPU request: its own CPU limit is its pods' request
	// (updated for issue 20: it was lowered to the limit): 3+3+2.
	want := map[string]int{mutators.TolerationsName: 1, mutators.PriorityClassName: 1, mutators.ResourcesName: 8}
	if !equality.Semantic.DeepEqual(m.ByMutator, want) {
		t.Errorf("ByMutator = %v, want %v", m.ByMutator, want)
	}
	if len(m.Notes) != 3 {
		t.Errorf("Notes = %q, want one per injected memory limit", m.Notes)
	}
	if len(m.Changed) != 10 {
		t.Errorf("Changed = %q", m.Changed)
	}
	// Mutators run in registry order: tolerations, priority class, resources.
	if m.Changed[0] != "spec.template.spec.tolerations[0]" || m.Changed[1] != "spec.template.spec.priorityClassName" ||
		!strings.HasPrefix(m.Changed[2], "spec.template.spec.initContainers[0].") {
		t.Errorf("order: %q", m.Changed)
	}
	b := ds.Spec.Template.Spec.Containers[1].Resources
	if _, set := b.Requests[corev1.ResourceCPU]; set || b.Limits.Cpu().String() != "10m" {
		t.Errorf("container b = %v / %v, want no CPU request beside the 10m limit (the API server makes it the pod's request)", b.Requests, b.Limits)
	}
}

func TestMutationSettings(t *testing.T) {
	cases := map[string]struct {
		policy       string
		opts         Options
		wantChanged  []string
		wantWarnings []string
	}{
		"all disabled": {
			policy: "mutation: {tolerations: {enabled: false}, priorityClass: {enabled: false}, resources: {enabled: false}}\n",
		},
		"no toleration defaults": {
			policy:      "mutation: {tolerations: {defaults: []}, resources: {enabled: false}}\n",
			wantChanged: []string{"spec.template.spec.priorityClassName"},
		},
		"custom class": {
			policy:      "mutation: {priorityClass: {name: agents}, tolerations: {enabled: false}, resources: {enabled: false}}\n",
			wantChanged: []string{"spec.template.spec.priorityClassName"},
		},
		"class missing in the cluster": {
			policy:       "mutation: {tolerations: {enabled: false}, resources: {enabled: false}}\n",
			opts:         Options{ClassExists: func(context.Context, string) (bool, error) { return false, nil }},
			wantWarnings: []string{`PriorityClass "infra-daemonset" does not exist in this cluster`},
		},
		"class lookup fails": {
			policy:       "mutation: {tolerations: {enabled: false}, resources: {enabled: false}}\n",
			opts:         Options{ClassExists: func(context.Context, string) (bool, error) { return false, errors.New("forbidden") }},
			wantWarnings: []string{`could not check that PriorityClass "infra-daemonset" exists (forbidden)`},
		},
		"CPU limit enabled": {
			policy: "mutation: {tolerations: {enabled: false}, priorityClass: {enabled: false}, resources: {cpuLimit: {enabled: true, minimum: 500m}, memoryLimit: {enabled: false}}}\n",
			wantChanged: []string{"spec.template.spec.containers[0].resources.requests.cpu", "spec.template.spec.containers[0].resources.limits.cpu",
				"spec.template.spec.containers[0].resources.requests.memory"},
		},
		"requests only": {
			policy:      "mutation: {tolerations: {enabled: false}, priorityClass: {enabled: false}, resources: {requests: {cpu: 10m}, memoryLimit: {enabled: false}}}\n",
			wantChanged: []string{"spec.template.spec.containers[0].resources.requests.cpu"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := parsePolicy(t, tc.policy, tc.opts)
			ds := daemonSet(t, "metadata: {name: agent}\nspec: {template: {spec: {containers: [{name: a, image: x}]}}}\n")
			m := p.Mutate(t.Context(), "default", ds)
			if !equalStrings(m.Changed, tc.wantChanged) {
				t.Errorf("Changed = %q, want %q", m.Changed, tc.wantChanged)
			}
			if len(m.Warnings) != len(tc.wantWarnings) {
				t.Fatalf("Warnings = %q, want %q", m.Warnings, tc.wantWarnings)
			}
			for i, w := range tc.wantWarnings {
				if !strings.Contains(m.Warnings[i], w) {
					t.Errorf("warning %q does not contain %q", m.Warnings[i], w)
				}
			}
			if len(tc.wantChanged) == 0 && ds.Annotations != nil {
				t.Errorf("annotations = %v", ds.Annotations)
			}
		})
	}
}

// TestSeedExamples runs the default policy, as the webhook does, over the
// seed DaemonSets in deploy/examples.
func TestSeedExamples(t *testing.T) {
	const pc = "spec.template.spec.priorityClassName"
	cases := map[string]struct {
		wantChanged []string // prefixes of changed fields, in order
		want        []brief
		wantWarning string // in the mutation's warnings
	}{
		// As uid 65534 next to the host's processes: it reaches every
		// process that runs as 65534 (kube-state-metrics' among them).
		"node-exporter.yaml": {wantChanged: []string{pc}, want: []brief{{"hostpid-shared-uid", Warn, "spec.template.spec.hostPID", false}}},
		"fluentbit.yaml":     {wantChanged: []string{pc}},
		// It reads / as a container that may run as root: no control-plane
		// toleration, so that it never runs next to etcd.
		// A read-only "/" as root reaches every socket, and SYS_PTRACE with
		// hostPID reads host processes' files where no LSM confines it.
		"system-monitor.yaml": {
			wantChanged: []string{pc, "spec.template.spec.containers[0].resources."},
			want: []brief{
				{"container-runtime-socket", Deny, "spec.template.spec.containers[0].volumeMounts[2]", false},
				{"credential-ancestor-read", Warn, "spec.template.spec.containers[0].volumeMounts[2]", false},
				{"host-control-socket", Deny, "spec.template.spec.containers[0].volumeMounts[2]", false},
				{"hostpid-ptrace", Deny, "spec.template.spec.containers[0].securityContext.capabilities.add[0]", false},
				{"readonly-not-recursive", Warn, "spec.template.spec.containers[0].volumeMounts[0]", false},
				{"readonly-not-recursive", Warn, "spec.template.spec.containers[0].volumeMounts[1]", false},
				{"readonly-not-recursive", Warn, "spec.template.spec.containers[0].volumeMounts[2]", false},
			},
			wantWarning: "default tolerations were not added: the DaemonSet can read node or cluster credentials [credential-ancestor-read]",
		},
		"gpu-monitor.yaml": {wantChanged: []string{"spec.template.spec.tolerations[0]", pc, "spec.template.spec.containers[0].resources."}},
		"ssd-cache.yaml":   {wantChanged: []string{"spec.template.spec.tolerations[0]", pc, "spec.template.spec.containers[0].resources."}},
		"cni-plugin.yaml": {
			wantChanged: []string{pc, "spec.template.spec.initContainers[0].resources.", "spec.template.spec.containers[0].resources."},
			want: []brief{
				{"credential-read", Deny, "spec.template.spec.containers[0].volumeMounts[0]", false},
				{"credential-read", Deny, "spec.template.spec.initContainers[0].volumeMounts[1]", false},
				{ruleSensitive, Deny, "spec.template.spec.initContainers[0].volumeMounts[0]", false},
				{ruleSensitive, Deny, "spec.template.spec.initContainers[0].volumeMounts[1]", false},
			},
		},
		"tolerations.yaml": {
			wantChanged: []string{pc},
			want: []brief{
				{ruleToleration, Warn, "spec.template.spec.tolerations[2].tolerationSeconds", false},
				{ruleToleration, Warn, "spec.template.spec.tolerations[3].tolerationSeconds", false},
			},
		},
	}
	p, err := New(config.Defaults(), Options{OwnNamespace: "daemonguard"})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "examples", name))
			if err != nil {
				t.Fatal(err)
			}
			ds := daemonSet(t, string(data))
			m := p.Mutate(t.Context(), ds.Namespace, ds)
			var kinds []string
			for _, c := range m.Changed {
				k := c
				if i := strings.Index(c, ".resources."); i >= 0 {
					k = c[:i+len(".resources.")]
				}
				if len(kinds) == 0 || kinds[len(kinds)-1] != k {
					kinds = append(kinds, k)
				}
			}
			if !equalStrings(kinds, tc.wantChanged) {
				t.Errorf("changed %q, want %q", m.Changed, tc.wantChanged)
			}
			if tc.wantWarning != "" && !slices.ContainsFunc(m.Warnings, func(w string) bool { return strings.HasPrefix(w, tc.wantWarning) }) {
				t.Errorf("warnings %q, want one starting %q", m.Warnings, tc.wantWarning)
			}
			v := p.Validate(t.Context(), ds.Namespace, nil, ds)
			assertBriefs(t, v, tc.want)
			// The same object in kube-system is left alone entirely.
			exempt := daemonSet(t, string(data))
			if m := p.Mutate(t.Context(), "kube-system", exempt); len(m.Changed) != 0 {
				t.Errorf("kube-system: changed %q", m.Changed)
			}
			if v := p.Validate(t.Context(), "kube-system", nil, exempt); len(v.Violations) != 0 {
				t.Errorf("kube-system: violations %+v", v.Violations)
			}
		})
	}
}

// TestIdempotence: a second Mutate over the policy's own output reports no
// changes and leaves the object deep-equal, for the seeds and for objects
// built to make the mutators interact.
func TestIdempotence(t *testing.T) {
	objects := map[string]string{
		"empty pod": "containers: [{name: a, image: x}]",
		"limits below the default requests": `
initContainers: [{name: i, image: x, resources: {limits: {cpu: 1m, memory: 1Mi}}}]
containers: [{name: a, image: x, resources: {requests: {cpu: 4, memory: 8Gi}}}]`,
		"tolerations that half cover": `
tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoExecute}, {key: node-role.kubernetes.io/control-plane, operator: Equal, effect: NoSchedule}]
containers: [{name: a, image: x}]`,
		"pod-level resources":      "resources: {limits: {cpu: 1}}\ncontainers: [{name: a, image: x}]",
		"explicit priority":        "priority: 100\ncontainers: [{name: a, image: x}]",
		"custom resources present": "containers: [{name: a, image: x, resources: {limits: {nvidia.com/gpu: 1}}}]",
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "deploy", "examples", "*.yaml"))
	p := parsePolicy(t, "", Options{})
	run := func(t *testing.T, ds *appsv1.DaemonSet) {
		first := p.Mutate(t.Context(), "default", ds)
		once := ds.DeepCopy()
		second := p.Mutate(t.Context(), "default", ds)
		if len(second.Changed) != 0 || len(second.ByMutator) != 0 {
			t.Errorf("second pass changed %q (first %q)", second.Changed, first.Changed)
		}
		if !equality.Semantic.DeepEqual(once, ds) {
			t.Errorf("second pass modified the object")
		}
		// The output never has a request above a limit the mutators chose.
		spec := &ds.Spec.Template.Spec
		for _, c := range append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...) {
			for n, req := range c.Resources.Requests {
				if lim, ok := c.Resources.Limits[n]; ok && req.Cmp(lim) > 0 {
					t.Errorf("container %s: request %s %s > limit %s", c.Name, n, req.String(), lim.String())
				}
			}
		}
	}
	for name, spec := range objects {
		t.Run(name, func(t *testing.T) {
			run(t, daemonSet(t, "metadata: {name: agent}\nspec:\n  template:\n    spec:\n"+indent(strings.TrimPrefix(spec, "\n"), "      ")))
		})
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			run(t, daemonSet(t, string(data)))
		})
	}
}

func TestNew(t *testing.T) {
	cfg := config.Defaults()
	p, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Source() != cfg {
		t.Errorf("Source() is not the compiled config")
	}

	// A config built in code, bypassing Parse, with a broken selector.
	bad := config.Defaults()
	bad.Exemptions = []config.Exemption{{Namespaces: []string{"a"}, Selector: &metav1.LabelSelector{
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Like"}}}}}
	if _, err := New(bad, Options{}); err == nil || !strings.Contains(err.Error(), "exemptions[0].selector") {
		t.Errorf("New with a bad selector: %v", err)
	}
}

func TestVerdict(t *testing.T) {
	cases := map[string]struct {
		violations   []Violation
		wantAllowed  bool
		wantDenials  int
		wantWarnings []string
	}{
		"empty": {wantAllowed: true},
		"warn and audit": {
			violations:   []Violation{{Rule: "r", Action: Warn, Field: "f", Message: "m"}, {Rule: "s", Action: Audit, Field: "g", Message: "n"}},
			wantAllowed:  true,
			wantWarnings: []string{"[r] f: m"},
		},
		"one deny": {
			violations:   []Violation{{Rule: "r", Action: Warn, Field: "f", Message: "m"}, {Rule: "s", Action: Deny, Field: "g", Message: "n"}},
			wantDenials:  1,
			wantWarnings: []string{"[r] f: m"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v := Verdict{Violations: tc.violations}
			if v.Allowed() != tc.wantAllowed || len(v.Denials()) != tc.wantDenials || !equalStrings(v.Warnings(), tc.wantWarnings) {
				t.Errorf("Allowed %v, Denials %v, Warnings %q", v.Allowed(), v.Denials(), v.Warnings())
			}
		})
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

// A finding moved from an init container to a container of the same name is
// a new finding, not the old one: it runs for the pod's whole life instead of
// once at start.
func TestRatchetDoesNotCrossContainerLists(t *testing.T) {
	p, err := New(config.Defaults(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	old := hostMountDS("agent", "/run/docker.sock", true, nil)
	old.Spec.Template.Spec.InitContainers = old.Spec.Template.Spec.Containers
	old.Spec.Template.Spec.Containers = []corev1.Container{{Name: "other", Image: "x"}}
	moved := hostMountDS("agent", "/run/docker.sock", true, nil)
	v := p.Validate(t.Context(), "default", old, moved)
	if v.Allowed() {
		t.Fatalf("moving a socket mount from an init container into a container must be denied: %+v", v.Violations)
	}
	if v2 := p.Validate(t.Context(), "default", old, old.DeepCopy()); !v2.Allowed() {
		t.Fatalf("the unchanged object must ratchet: %+v", v2.Violations)
	}
}

// TestAllowedHostPaths: the admin's allowlist makes host paths nobody
// classified known safe, for the access it names and on path component
// boundaries, and never what a rule knows to be dangerous.
func TestAllowedHostPaths(t *testing.T) {
	p := parsePolicy(t, `validation:
  allowedHostPaths:
  - pathPrefix: /var/lib/agent
  - pathPrefix: /srv/reports
    readOnly: true
  - pathPrefix: /var/lib/kubelet
`, Options{})
	mount := func(path string, readOnly bool) string {
		return `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: a, namespace: default}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers:
      - name: a
        image: a:1
        volumeMounts: [{name: h, mountPath: /h, readOnly: ` + strconv.FormatBool(readOnly) + `}]
      volumes: [{name: h, hostPath: {path: ` + path + `}}]
`
	}
	cases := map[string]struct {
		path     string
		readOnly bool
		want     []brief
	}{
		"allowed writable":                    {path: "/var/lib/agent"},
		"inside an allowed writable path":     {path: "/var/lib/agent/state", want: []brief{{"nested-hostpath", Deny, mount0, false}}},
		"allowed read-only, mounted writable": {path: "/srv/reports", want: []brief{{"unknown-writable-hostpath", Deny, mount0, false}}},
		"allowed read-only":                   {path: "/srv/reports/today", readOnly: true},
		"prefix is a path component":          {path: "/var/lib/agent-other", want: []brief{{"unknown-writable-hostpath", Deny, mount0, false}}},
		"a parent of an allowed path":         {path: "/var/lib", readOnly: true, want: []brief{{"credential-ancestor-read", Warn, mount0, false}, {"host-control-socket", Deny, mount0, false}}},
		"known dangerous stays dangerous": {path: "/var/lib/kubelet/pods", want: []brief{
			{"credential-read", Deny, mount0, false}, {"nested-hostpath", Deny, mount0, false}, {"writable-sensitive-hostpath", Deny, mount0, false}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ds := daemonSet(t, mount(tc.path, tc.readOnly))
			v := p.Validate(t.Context(), "default", nil, ds)
			assertBriefs(t, v, tc.want)
		})
	}
	// check prints the entry that would admit an unknown path.
	v := parsePolicy(t, "", Options{}).Validate(t.Context(), "default", nil, daemonSet(t, mount("/var/lib/agent", false)))
	if got := v.AllowedHostPaths(); len(got) != 1 || got[0].PathPrefix != "/var/lib/agent" || got[0].ReadOnly {
		t.Errorf("AllowedHostPaths() = %+v, want one writable /var/lib/agent", got)
	}
}
