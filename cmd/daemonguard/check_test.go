package main

import (
	"bytes"
	"encoding/json"
	"github.com/daemonguard/daemonguard/internal/policy"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

const examples = "../../deploy/examples/"

func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func decodeReport(t *testing.T, s string) checkReport {
	t.Helper()
	var r checkReport
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("output is not the JSON report: %v\n%s", err, s)
	}
	return r
}

// The README promises these verdicts for the seed DaemonSets.
func TestCheckSeedVerdicts(t *testing.T) {
	files, _ := filepath.Glob(examples + "*.yaml")
	code, out, errOut := runCmd(t, "", append([]string{"check", "-o", "json"}, files...)...)
	if code != exitDenied {
		t.Fatalf("exit %d, want 1 (cni-plugin is denied); stderr %s", code, errOut)
	}
	r := decodeReport(t, out)
	want := map[string]struct {
		allowed, mutated bool
		denyRules        []string
		warnRules        []string
	}{
		"fluentbit":       {allowed: true, mutated: true},
		"gpu-monitor":     {allowed: true, mutated: true},
		"ssd-cache":       {allowed: true, mutated: true},
		"node-exporter":   {allowed: true, mutated: true, warnRules: []string{"hostpid-shared-uid"}},
		"system-monitor":  {allowed: false, mutated: true, denyRules: []string{"container-runtime-socket", "host-control-socket", "hostpid-ptrace"}, warnRules: []string{"credential-ancestor-read", "readonly-not-recursive", "readonly-not-recursive", "readonly-not-recursive"}},
		"dedicated-agent": {allowed: true, mutated: true, warnRules: []string{"ineffective-toleration", "ineffective-toleration"}},
		"cni-plugin":      {allowed: false, mutated: true, denyRules: []string{"writable-sensitive-hostpath", "writable-sensitive-hostpath", "credential-read", "credential-read"}},
	}
	if len(r.Results) != len(want) {
		t.Fatalf("%d results, want %d", len(r.Results), len(want))
	}
	for _, res := range r.Results {
		w, ok := want[res.Name]
		if !ok {
			t.Errorf("unexpected result %s", res.Name)
			continue
		}
		var deny, warn []string
		for _, v := range res.Violations {
			switch v.Action {
			case "deny":
				deny = append(deny, v.Rule)
			case "warn":
				warn = append(warn, v.Rule)
			}
		}
		if res.Allowed != w.allowed || res.Mutated != w.mutated || strings.Join(deny, ",") != strings.Join(w.denyRules, ",") || strings.Join(warn, ",") != strings.Join(w.warnRules, ",") {
			t.Errorf("%s: allowed=%v mutated=%v deny=%v warn=%v; want %+v", res.Name, res.Allowed, res.Mutated, deny, warn, w)
		}
		if res.Kind != "DaemonSet" || res.Operation != "CREATE" || len(res.Object) == 0 {
			t.Errorf("%s: kind %q operation %q", res.Name, res.Kind, res.Operation)
		}
	}
}

func TestCheckJSONContract(t *testing.T) {
	code, out, _ := runCmd(t, "", "check", examples+"gpu-monitor.yaml", "-o", "json")
	if code != exitAllowed {
		t.Fatalf("exit %d", code)
	}
	// The field names are a contract other tools parse.
	var raw struct {
		Results []map[string]json.RawMessage `json:"results"`
		Skipped []json.RawMessage            `json:"skipped"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"kind", "namespace", "name", "allowed", "mutated", "patch", "object", "violations", "warnings"} {
		if _, ok := raw.Results[0][k]; !ok {
			t.Errorf("result lacks %q", k)
		}
	}
	if raw.Skipped == nil {
		t.Error(`"skipped" must be a list, not null`)
	}
	r := decodeReport(t, out)
	res := r.Results[0]
	if res.Namespace != "monitoring" || res.Name != "gpu-monitor" {
		t.Fatalf("identity %s/%s", res.Namespace, res.Name)
	}
	var ds appsv1.DaemonSet
	if err := json.Unmarshal(res.Object, &ds); err != nil {
		t.Fatal(err)
	}
	if ds.Spec.Template.Spec.PriorityClassName != "infra-daemonset" || ds.Spec.Template.Spec.NodeSelector["hardware/gpu"] != "true" {
		t.Fatalf("object is not the mutated DaemonSet with the author's fields kept: %+v", ds.Spec.Template.Spec)
	}
	if res.Violations == nil || res.Warnings == nil || res.Patch == nil {
		t.Fatal("violations, warnings and patch must be lists, not null")
	}
	paths := []string{}
	for _, op := range res.Patch {
		paths = append(paths, op.Op+" "+op.Path)
	}
	if !strings.Contains(strings.Join(paths, ";"), "add /spec/template/spec/priorityClassName") {
		t.Fatalf("patch %v", paths)
	}
}

func TestCheckInputs(t *testing.T) {
	multi := `# a comment-only document
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: team-a}
---
apiVersion: extensions/v1beta1
kind: DaemonSet
metadata: {name: ancient}
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: DaemonSet
  metadata: {name: in-list}
  spec:
    template:
      spec:
        containers: [{name: c, image: i}]
`
	code, out, errOut := runCmd(t, multi, "check", "-", "-o", "json", "--namespace", "team-a")
	if code != exitAllowed {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	r := decodeReport(t, out)
	if len(r.Results) != 1 || r.Results[0].Name != "in-list" || r.Results[0].Namespace != "team-a" || r.Results[0].Source != "<stdin>: document 4 item 1" {
		t.Fatalf("results %+v", r.Results)
	}
	if len(r.Skipped) != 2 || r.Skipped[0].Kind != "ConfigMap" || r.Skipped[0].Source != "<stdin>: document 2" ||
		!strings.Contains(r.Skipped[1].Reason, "extensions/v1beta1") {
		t.Fatalf("skipped %+v", r.Skipped)
	}
}

func TestCheckErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: [unclosed\n"), 0o644)
	noKind := filepath.Join(dir, "nokind.yaml")
	os.WriteFile(noKind, []byte("metadata: {name: a}\n"), 0o644)
	badPolicy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(badPolicy, []byte("apiVersion: daemonguard.io/v1alpha1\nkind: Policy\nvalidation:\n  rules:\n    no-such-rule: enforce\n"), 0o644)
	cases := map[string]struct {
		args []string
		want string
	}{
		"no files":        {[]string{"check"}, "no input"},
		"bad output":      {[]string{"check", "-o", "xml", examples + "fluentbit.yaml"}, `-o "xml"`},
		"missing file":    {[]string{"check", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		"bad yaml":        {[]string{"check", bad}, "bad.yaml: document 2"},
		"no kind":         {[]string{"check", noKind}, "nokind.yaml: document 1: not a Kubernetes object"},
		"bad policy":      {[]string{"check", "--config", badPolicy, examples + "fluentbit.yaml"}, `validation.rules[no-such-rule]`},
		"unknown flag":    {[]string{"check", "--frobnicate", examples + "fluentbit.yaml"}, "frobnicate"},
		"old kube":        {[]string{"check", "--kube-version", "1.29", examples + "fluentbit.yaml"}, "supported are 1.30 to 1.37"},
		"unknown command": {[]string{"chek"}, `unknown command "chek"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCmd(t, "", tc.args...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", code, errOut, tc.want)
			}
		})
	}
}

func TestCheckUpdateRatchets(t *testing.T) {
	dir := t.TempDir()
	old := `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: legacy, namespace: ops}
spec:
  template:
    spec:
      containers:
      - name: agent
        image: agent:1
        volumeMounts: [{name: sock, mountPath: /var/run/docker.sock}]
      volumes: [{name: sock, hostPath: {path: /var/run/docker.sock}}]
`
	oldFile := filepath.Join(dir, "old.yaml")
	newFile := filepath.Join(dir, "new.yaml")
	os.WriteFile(oldFile, []byte(old), 0o644)
	os.WriteFile(newFile, []byte(strings.Replace(old, "agent:1", "agent:2", 1)), 0o644)

	code, _, _ := runCmd(t, "", "check", "-o", "json", newFile)
	if code != exitDenied {
		t.Fatalf("as a CREATE: exit %d, want 1", code)
	}
	code, out, _ := runCmd(t, "", "check", "-o", "json", "--old", oldFile, newFile)
	if code != exitAllowed {
		t.Fatalf("as an UPDATE of a DaemonSet that already had the socket: exit %d, want 0\n%s", code, out)
	}
	r := decodeReport(t, out)
	v := r.Results[0].Violations
	if r.Results[0].Operation != "UPDATE" || len(v) != 1 || v[0].Action != "warn" || !v[0].Ratcheted || v[0].Rule != "container-runtime-socket" {
		t.Fatalf("want one ratcheted warning, got %+v", r.Results[0])
	}
}

func TestCheckYAMLOutputIsApplyable(t *testing.T) {
	in, _ := os.ReadFile(examples + "cni-plugin.yaml")
	gpu, _ := os.ReadFile(examples + "gpu-monitor.yaml")
	stream := string(gpu) + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: monitoring}\n---\n" + string(in)
	code, out, errOut := runCmd(t, stream, "check", "-o", "yaml", "-")
	if code != exitDenied {
		t.Fatalf("exit %d", code)
	}
	docs := strings.Split(out, "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("want the mutated gpu-monitor and the Namespace (the denied cni-plugin left out), got %d docs:\n%s", len(docs), out)
	}
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &ds); err != nil {
		t.Fatal(err)
	}
	if ds.Name != "gpu-monitor" || ds.Spec.Template.Spec.PriorityClassName != "infra-daemonset" {
		t.Fatalf("first document: %+v", ds.ObjectMeta)
	}
	if !strings.Contains(docs[1], "kind: Namespace") {
		t.Fatalf("second document: %s", docs[1])
	}
	if !strings.Contains(errOut, "denied, left out: DaemonSet networking/cni-plugin") || !strings.Contains(errOut, "[writable-sensitive-hostpath]") {
		t.Fatalf("stderr %q", errOut)
	}
}

func TestCheckTextAndUnknownFields(t *testing.T) {
	typo := `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: typo, namespace: ops}
spec:
  template:
    spec:
      hostPID: true
      containers:
      - name: c
        image: i
        volumeMounts: [{name: logs, mountPath: /logs, readonly: true}]
      volumes: [{name: logs, hostPath: {path: /var/log}}]
`
	code, out, _ := runCmd(t, typo, "check", "-")
	if code != exitDenied {
		t.Fatalf("exit %d: a misspelt readOnly leaves the mount writable", code)
	}
	for _, want := range []string{
		"DaemonSet ops/typo (<stdin>: document 1, CREATE): DENIED, mutated",
		"denied    [hostpid-writable-hostpath] spec.template.spec.containers[0].volumeMounts[0]",
		`unknown field "spec.template.spec.containers[0].volumeMounts[0].readonly"`,
		"1 DaemonSet(s): 0 allowed, 1 denied",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	if code, out, _ := runCmd(t, "", "version"); code != 0 || !strings.HasPrefix(out, "daemonguard ") {
		t.Fatalf("version: %d %q", code, out)
	}
	code, _, errOut := runCmd(t, "", "check", "--help")
	if code != 0 || !strings.Contains(errOut, "Exit status: 0 all allowed, 1 something denied, 2 bad usage") {
		t.Fatalf("check --help: %d %q", code, errOut)
	}
	code, _, errOut = runCmd(t, "", "serve", "--help")
	for _, flag := range []string{"-config", "-cert-dir", "-port", "-namespace", "-metrics-bind-address", "-health-probe-bind-address", "-enable-http2"} {
		if !strings.Contains(errOut, flag) {
			t.Errorf("serve --help lacks %s", flag)
		}
	}
	if code != 0 {
		t.Fatalf("serve --help: exit %d", code)
	}
}

// TestCheckNodes: with --nodes, the node-aware rules judge the DaemonSet
// against those nodes, as the webhook does against its node cache.
func TestCheckNodes(t *testing.T) {
	dir := t.TempDir()
	nodes := filepath.Join(dir, "nodes.yaml")
	os.WriteFile(nodes, []byte(`apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: cp-1}
  spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}
  status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
- apiVersion: v1
  kind: Node
  metadata: {name: worker-1}
  spec: {taints: [{key: dedicated, value: gpu, effect: NoSchedule}]}
  status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
- apiVersion: v1
  kind: Node
  metadata: {name: worker-2}
  status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
`), 0o644)
	ds := filepath.Join(dir, "ds.yaml")
	os.WriteFile(ds, []byte(`apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: monitoring}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: agent:1}]
`), 0o644)

	code, out, errOut := runCmd(t, "", "check", "-o", "json", "--nodes", nodes, ds)
	if code != exitAllowed {
		t.Fatalf("exit %d, want 0; stderr %s", code, errOut)
	}
	var report checkReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	var coverage []policy.Violation
	for _, v := range report.Results[0].Violations {
		if v.Rule == "node-coverage" {
			coverage = append(coverage, v)
		}
	}
	// The control-plane toleration daemonguard injects counts: only the
	// GPU node is missed.
	if len(coverage) != 1 || !strings.Contains(coverage[0].Message, "runs on 2 of 3 nodes") ||
		!strings.Contains(coverage[0].Message, "dedicated=gpu:NoSchedule") || coverage[0].Action != policy.Warn {
		t.Fatalf("node-coverage findings %+v", coverage)
	}

	// Without --nodes the node-aware rules stay silent.
	_, out, _ = runCmd(t, "", "check", "-o", "json", ds)
	if strings.Contains(out, "node-coverage") {
		t.Fatalf("node-coverage without --nodes:\n%s", out)
	}
	// A --nodes file without Nodes is a usage error.
	if code, _, errOut := runCmd(t, "", "check", "--nodes", ds, ds); code != exitUsage || !strings.Contains(errOut, "no v1 Node") {
		t.Fatalf("--nodes without nodes: exit %d, %s", code, errOut)
	}
}

// TestCheckKubeVersion: --kube-version judges a DaemonSet as an older API
// server stores it: one that only supplementalGroupsPolicy: Strict makes safe
// is allowed for 1.37 and 1.33 and denied for 1.30 and 1.32, which drop the
// field (test/integration shows the same on kube-apiserver 1.30.14), and
// check says which field it judged without.
func TestCheckKubeVersion(t *testing.T) {
	file := filepath.Join("..", "..", "internal", "policy", "testdata", "allowed", "am-socket-unprivileged.yaml")
	for version, want := range map[string]int{"": exitAllowed, "1.37": exitAllowed, "v1.33.0": exitAllowed, "1.32": exitDenied, "1.30": exitDenied} {
		t.Run(version, func(t *testing.T) {
			args := []string{"check", file}
			if version != "" {
				args = append(args, "--kube-version", version)
			}
			code, out, errOut := runCmd(t, "", args...)
			if code != want {
				t.Fatalf("exit %d, want %d\n%s%s", code, want, out, errOut)
			}
			dropped := strings.Contains(out, "does not keep spec.template.spec.securityContext.supplementalGroupsPolicy")
			if dropped != (want == exitDenied) {
				t.Errorf("says it judged without supplementalGroupsPolicy: %v\n%s", dropped, out)
			}
			if want == exitDenied && !strings.Contains(out, "[container-runtime-socket]") {
				t.Errorf("want a container-runtime-socket denial:\n%s", out)
			}
		})
	}
}
