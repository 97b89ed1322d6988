package policy

import (
	"encoding/json"
	"github.com/daemonguard/daemonguard/mutators"
	"github.com/daemonguard/daemonguard/validators"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestExemptionsReportWhatMatched: Exemptions names, per exemption, exactly
// the rules and mutators the verdicts skip, and never changes a verdict.
func TestExemptionsReportWhatMatched(t *testing.T) {
	const file = `exemptions:
- namespaces: [kube-system]
  reason: cluster components
- namespaces: [net]
  selector: {matchLabels: {app: flannel}}
  rules: [writable-sensitive-hostpath]
  reason: flannel installs its CNI plugin
- namespaces: [net]
  rules: [resources, writable-sensitive-hostpath]
`
	const cni = `metadata: {name: cni, labels: {app: %s}}
spec:
  template:
    spec:
      containers: [{name: c, image: x, volumeMounts: [{name: bin, mountPath: /host}]}]
      volumes: [{name: bin, hostPath: {path: /opt/cni/bin}}]
`
	p := parsePolicy(t, file, Options{OwnNamespace: "daemonguard"})
	// An exemption without rules names every mutator, then every rule, in
	// registry order.
	var names []string
	for _, d := range mutators.Registry() {
		names = append(names, d.Name)
	}
	for _, d := range validators.Registry() {
		names = append(names, d.ID)
	}
	all, _ := json.Marshal(names)
	everything := string(all)
	cases := map[string]struct {
		namespace, app string
		want           string // JSON of the matches
		allowed        bool
	}{
		"no exemption": {namespace: "default", app: "flannel", want: "null"},
		"a namespace exemption for everything": {namespace: "kube-system", app: "x", allowed: true,
			want: `[{"index":0,"reason":"cluster components","rules":` + everything + `}]`},
		"the first matching exemption wins a name, a later one reports the rest": {namespace: "net", app: "flannel", allowed: true,
			want: `[{"index":1,"reason":"flannel installs its CNI plugin","rules":["writable-sensitive-hostpath"]},{"index":2,"rules":["resources"]}]`},
		"a selector that does not match": {namespace: "net", app: "other", allowed: true,
			want: `[{"index":2,"rules":["resources","writable-sensitive-hostpath"]}]`},
		"the webhook's own namespace": {namespace: "daemonguard", app: "x", allowed: true,
			want: `[{"index":-1,"reason":"the webhook's own namespace","rules":` + everything + `}]`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ds := daemonSet(t, strings.Replace(cni, "%s", tc.app, 1))
			got, _ := json.Marshal(p.Exemptions(tc.namespace, ds))
			if string(got) != tc.want {
				t.Errorf("Exemptions =\n %s\nwant\n %s", got, tc.want)
			}
			v := p.Validate(t.Context(), tc.namespace, nil, ds)
			if v.Allowed() != tc.allowed {
				t.Errorf("Allowed = %v, want %v (%+v)", v.Allowed(), tc.allowed, v.Violations)
			}
			// The keys the verdicts count for the exemption-hits metric
			// are the entries Exemptions reports.
			var want, hit []string
			for _, m := range p.Exemptions(tc.namespace, ds) {
				want = append(want, m.Key())
			}
			for _, k := range append(p.Mutate(t.Context(), tc.namespace, ds).Exempted, v.Exempted...) {
				if !slices.Contains(hit, k) {
					hit = append(hit, k)
				}
			}
			slices.Sort(want)
			slices.Sort(hit)
			if !slices.Equal(hit, want) {
				t.Errorf("Mutation.Exempted and Verdict.Exempted name %q, want %q", hit, want)
			}
		})
	}
}

// TestDenialEndsWithTheAdminsWayOut: the 422 keeps one cause per finding and
// its message ends with the pointer to exemptions, naming the denying rules.
func TestDenialEndsWithTheAdminsWayOut(t *testing.T) {
	v := Verdict{Violations: []Violation{
		{Rule: "writable-sensitive-hostpath", Action: Deny, Field: "spec.template.spec.initContainers[0].volumeMounts[0]", Message: "writes /opt/cni/bin"},
		{Rule: "privileged-container", Action: Warn, Field: "spec.template.spec.containers[0].securityContext.privileged", Message: "privileged"},
		{Rule: "writable-sensitive-hostpath", Action: Deny, Field: "spec.template.spec.initContainers[1].volumeMounts[0]", Message: "writes /etc/cni/net.d"},
		{Rule: "bidirectional-mount-propagation", Action: Deny, Field: "spec.template.spec.containers[0].volumeMounts[1]", Message: "Bidirectional"},
	}}
	if got := strings.Join(v.DeniedRules(), ","); got != "writable-sensitive-hostpath,bidirectional-mount-propagation" {
		t.Errorf("DeniedRules = %s", got)
	}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "flannel", Labels: map[string]string{"app": "flannel"}}}
	err := v.Status("net", ds)
	if !apierrors.IsInvalid(err) || err.ErrStatus.Code != 422 {
		t.Fatalf("not a 422 Invalid: %+v", err.ErrStatus)
	}
	if n := len(err.ErrStatus.Details.Causes); n != 3 {
		t.Errorf("%d causes, want one per denying finding: %+v", n, err.ErrStatus.Details.Causes)
	}
	msg := err.ErrStatus.Message
	if !strings.HasPrefix(msg, `DaemonSet.apps "flannel" is invalid: [spec.template.spec.initContainers[0].volumeMounts[0]: Forbidden: [writable-sensitive-hostpath] writes /opt/cni/bin`) {
		t.Errorf("message does not start with the findings: %s", msg)
	}
	want := ". An admin can exempt this DaemonSet alone from writable-sensitive-hostpath, bidirectional-mount-propagation with this entry, and a reason, in the policy's exemptions: " +
		"{namespaces: [net], daemonSets: [flannel], rules: [writable-sensitive-hostpath, bidirectional-mount-propagation]} (" + ExemptionsURL + "; `daemonguard check` prints it too)"
	if !strings.HasSuffix(msg, want) {
		t.Errorf("message does not end with the admin's way out:\n%s\nwant suffix\n%s", msg, want)
	}
	// The entry in the message parses as an exemption that admits it.
	entry := msg[strings.Index(msg, "{namespaces") : strings.Index(msg, "} (")+1]
	parsePolicy(t, "exemptions:\n- "+entry+"\n", Options{})

	// A generated name cannot be exempted by name: its labels are used,
	// and without labels nothing is offered.
	ds.Name, ds.GenerateName = "flannel-x7k2p", "flannel-"
	if msg := v.Status("net", ds).ErrStatus.Message; !strings.Contains(msg, `by its labels: its name is generated) from writable-sensitive-hostpath, bidirectional-mount-propagation with this entry, and a reason, in the policy's exemptions: {namespaces: [net], selector: {matchLabels: {"app": "flannel"}}, rules:`) {
		t.Errorf("generated name: %s", msg)
	}
	ds.Labels = nil
	if msg := v.Status("net", ds).ErrStatus.Message; !strings.Contains(msg, "An admin cannot exempt this DaemonSet alone from writable-sensitive-hostpath, bidirectional-mount-propagation: it has no fixed name") {
		t.Errorf("generated name, no labels: %s", msg)
	}
}
