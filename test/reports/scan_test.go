package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// scanOut is what one run of the binary printed, and its exit status.
type scanOut struct {
	stdout, stderr string
	code           int
}

func runScan(t *testing.T, args ...string) scanOut {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"scan"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := scanOut{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		out.code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out
}

type jsonReport struct {
	Results []struct {
		Namespace, Name string
		Allowed         bool
		Mutated         bool
		Patch           []struct{ Op, Path string }
		Violations      []struct{ Rule, Action, Field, Message string }
		Warnings        []string
		Exempt          []struct{ Rule, Exemption, Reason string }
		Exemption       *struct {
			Namespaces, DaemonSets []string
			Selector               any
		}
		Object json.RawMessage
	}
	Skipped []any
}

// brownfield creates, with no webhook registered, one DaemonSet the
// default policy would deny, one it would warn about, one it would mutate
// only, one it leaves alone and one an exemption covers.
func brownfield(t *testing.T) string {
	ns := namespace(t, "brownfield")
	exempt := daemonSet(ns, "legacy", hostPIDWritable)
	exempt.Labels["daemonguard.io/legacy"] = "true"
	create(t,
		daemonSet(ns, "node-debugger", hostPIDWritable),
		daemonSet(ns, "gpu-monitor", func(s *corev1.PodSpec) { privileged(s); complete(s) }),
		daemonSet(ns, "fluentbit", nil),
		daemonSet(ns, "node-exporter", complete),
		exempt,
	)
	return ns
}

const exemptingPolicy = `apiVersion: daemonguard.io/v1alpha1
kind: Policy
exemptions:
  - namespaces: [kube-system]
    reason: cluster components
  - namespaces: [%s]
    selector: {matchLabels: {daemonguard.io/legacy: "true"}}
    rules: [hostpid-writable-hostpath]
    reason: legacy agent, ticket OPS-1
`

func TestScanOutputsAndExitStatus(t *testing.T) {
	ns := brownfield(t)
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(fmt.Sprintf(exemptingPolicy, ns)), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("json", func(t *testing.T) {
		out := runScan(t, "--namespace", ns, "--config", policyFile, "-o", "json")
		if out.code != 1 {
			t.Fatalf("exit %d, want 1 (node-debugger denied)\n%s", out.code, out.stderr)
		}
		var r jsonReport
		if err := json.Unmarshal([]byte(out.stdout), &r); err != nil {
			t.Fatalf("%v\n%s", err, out.stdout)
		}
		if len(r.Results) != 5 || r.Skipped == nil {
			t.Fatalf("%d results, skipped %v; want 5 and []", len(r.Results), r.Skipped)
		}
		byName := map[string]int{}
		for i, res := range r.Results {
			byName[res.Name] = i
			if res.Namespace != ns || res.Object == nil {
				t.Errorf("%s: namespace %q, object %s", res.Name, res.Namespace, res.Object)
			}
		}
		deb := r.Results[byName["node-debugger"]]
		if e := deb.Exemption; e == nil || strings.Join(e.Namespaces, ",") != ns || strings.Join(e.DaemonSets, ",") != "node-debugger" || e.Selector != nil {
			t.Errorf("node-debugger: exemption %+v, want its namespace and name", e)
		}
		if deb.Allowed || len(deb.Violations) == 0 || deb.Violations[0].Rule != "hostpid-writable-hostpath" || deb.Violations[0].Action != "deny" ||
			deb.Violations[0].Field != "spec.template.spec.containers[0].volumeMounts[0]" {
			t.Errorf("node-debugger: allowed %v, violations %+v", deb.Allowed, deb.Violations)
		}
		gpu := r.Results[byName["gpu-monitor"]]
		if !gpu.Allowed || gpu.Mutated && hasPath(gpu.Patch, "priorityClassName") || !hasViolation(gpu.Violations, "privileged-container", "warn") {
			t.Errorf("gpu-monitor: %+v", gpu)
		}
		fb := r.Results[byName["fluentbit"]]
		if !fb.Allowed || !fb.Mutated || !hasPath(fb.Patch, "/spec/template/spec/priorityClassName") || len(fb.Violations) != 0 {
			t.Errorf("fluentbit: want allowed and mutated with a priorityClassName, got %+v", fb)
		}
		ne := r.Results[byName["node-exporter"]]
		if !ne.Allowed || len(ne.Violations) != 0 {
			t.Errorf("node-exporter: %+v", ne)
		}
		legacy := r.Results[byName["legacy"]]
		if !legacy.Allowed || len(legacy.Exempt) != 1 || legacy.Exempt[0].Rule != "hostpid-writable-hostpath" ||
			legacy.Exempt[0].Exemption != "exemptions[1]" || legacy.Exempt[0].Reason != "legacy agent, ticket OPS-1" {
			t.Errorf("legacy: want allowed, exempt from hostpid-writable-hostpath by exemptions[1]; got %+v", legacy)
		}
	})

	t.Run("text", func(t *testing.T) {
		out := runScan(t, "--namespace", ns, "--config", policyFile)
		if out.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", out.code, out.stderr)
		}
		summary, offenders, ok := strings.Cut(out.stdout, "Worst offenders")
		if !ok {
			t.Fatalf("no worst offenders:\n%s", out.stdout)
		}
		for _, want := range []string{
			"5 DaemonSet(s) in 1 namespace(s): 4 allowed, 1 would be denied",
			"deny   hostpid-writable-hostpath",
			"warn   privileged-container",
			"priorityClassName",
			"hostpid-writable-hostpath by exemptions[1]",
		} {
			if !strings.Contains(summary, want) {
				t.Errorf("summary lacks %q:\n%s", want, summary)
			}
		}
		if i, j := strings.Index(offenders, "node-debugger: DENIED"), strings.Index(offenders, "gpu-monitor: allowed"); i < 0 || j < i {
			t.Errorf("the denied DaemonSet should come first among the offenders:\n%s", offenders)
		}
		// The denied one comes with the entry admitting it alone.
		if want := "  exemption admitting it: {namespaces: [" + ns + "], daemonSets: [node-debugger], rules: [hostpid-writable-hostpath"; !strings.Contains(offenders, want) {
			t.Errorf("offenders lack %q:\n%s", want, offenders)
		}
		t.Logf("scan text output:\n%s", out.stdout)
	})

	t.Run("openreports", func(t *testing.T) {
		out := runScan(t, "--namespace", ns, "--config", policyFile, "-o", "openreports")
		if out.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", out.code, out.stderr)
		}
		reps := decodeReports(t, out.stdout)
		if len(reps) != 1 || reps[0].Namespace != ns || reps[0].Name != "daemonguard-daemonsets" {
			t.Fatalf("want one Report in %s, got %d", ns, len(reps))
		}
		r := reps[0]
		checkResult(t, &r, "node-debugger", "hostpid-writable-hostpath", "fail", "high")
		checkResult(t, &r, "gpu-monitor", "privileged-container", "warn", "medium")
		checkResult(t, &r, "legacy", "hostpid-writable-hostpath", "skip", "high")
		checkResult(t, &r, "node-exporter", "hostpid-writable-hostpath", "pass", "high")
		checkResult(t, &r, "node-debugger", "hostpid-shared-uid", "warn", "medium")
		// privileged-container, and hostpid-shared-uid for node-debugger
		// and legacy (whose exemption names another rule).
		if r.Summary.Fail != 1 || r.Summary.Warn != 3 || r.Summary.Skip != 1 || r.Summary.Pass == 0 {
			t.Errorf("summary %+v", r.Summary)
		}
		// The Report is valid against the CRD: a dry-run create passes.
		r.ResourceVersion = ""
		if err := c.Create(context.Background(), &r, client.DryRunAll); err != nil {
			t.Errorf("the API server refuses the printed Report: %v", err)
		}
	})

	t.Run("exit 0 when all allowed", func(t *testing.T) {
		out := runScan(t, "--namespace", ns, "--selector", "app in (fluentbit,node-exporter)", "-o", "json")
		var r jsonReport
		_ = json.Unmarshal([]byte(out.stdout), &r)
		if out.code != 0 || len(r.Results) != 2 {
			t.Fatalf("exit %d with %d results, want 0 and 2\n%s", out.code, len(r.Results), out.stderr)
		}
		if !strings.Contains(out.stderr, "no daemonguard policy ConfigMap found") {
			t.Errorf("no note about the built-in defaults on stderr: %q", out.stderr)
		}
	})

	t.Run("policy from the chart's ConfigMap", func(t *testing.T) {
		// What the chart renders: <fullname>-policy, key policy.yaml, in the
		// release namespace. The rule at audit, node-debugger passes.
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "daemonguard-policy", Namespace: controlplaneNamespace,
				Labels: map[string]string{"app.kubernetes.io/part-of": "daemonguard"}},
			Data: map[string]string{"policy.yaml": "apiVersion: daemonguard.io/v1alpha1\nkind: Policy\nvalidation:\n  rules:\n    hostpid-writable-hostpath: audit\n"},
		}
		create(t, cm)
		t.Cleanup(func() { _ = c.Delete(context.Background(), cm) })
		out := runScan(t, "--namespace", ns, "-o", "json")
		if out.code != 0 {
			t.Fatalf("exit %d, want 0 with the rule at audit\n%s", out.code, out.stderr)
		}
		if !strings.Contains(out.stderr, "policy from ConfigMap "+controlplaneNamespace+"/daemonguard-policy") {
			t.Errorf("stderr does not name the ConfigMap: %q", out.stderr)
		}
		var r jsonReport
		if err := json.Unmarshal([]byte(out.stdout), &r); err != nil {
			t.Fatal(err)
		}
		for _, res := range r.Results {
			if res.Name == "node-debugger" && !hasViolation(res.Violations, "hostpid-writable-hostpath", "audit") {
				t.Errorf("node-debugger: want an audit finding, got %+v", res.Violations)
			}
		}
	})

	t.Run("missing PriorityClass is not injected", func(t *testing.T) {
		pol := filepath.Join(t.TempDir(), "p.yaml")
		if err := os.WriteFile(pol, []byte("apiVersion: daemonguard.io/v1alpha1\nkind: Policy\nmutation:\n  priorityClass:\n    name: no-such-class\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out := runScan(t, "--namespace", ns, "--selector", "app=fluentbit", "--config", pol, "-o", "json")
		var r jsonReport
		if err := json.Unmarshal([]byte(out.stdout), &r); err != nil || len(r.Results) != 1 {
			t.Fatalf("%v %s", err, out.stderr)
		}
		if hasPath(r.Results[0].Patch, "/spec/template/spec/priorityClassName") || !strings.Contains(strings.Join(r.Results[0].Warnings, "\n"), "no-such-class") {
			t.Errorf("a class the cluster does not have must be skipped with a warning: %+v", r.Results[0])
		}
	})

	t.Run("exit 2", func(t *testing.T) {
		if out := runScan(t, "-o", "yaml"); out.code != 2 {
			t.Errorf("-o yaml: exit %d, want 2", out.code)
		}
		if out := runScan(t, "extra"); out.code != 2 {
			t.Errorf("an argument: exit %d, want 2", out.code)
		}
		bad := filepath.Join(t.TempDir(), "kubeconfig")
		_ = os.WriteFile(bad, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: x, cluster: {server: \"http://127.0.0.1:1\"}}]\ncontexts: [{name: x, context: {cluster: x}}]\ncurrent-context: x\n"), 0o600)
		out := runScan(t, "--kubeconfig", bad, "--timeout", "5s")
		if out.code != 2 || !strings.Contains(out.stderr, "127.0.0.1:1") {
			t.Errorf("unreachable cluster: exit %d, want 2; stderr %q", out.code, out.stderr)
		}
	})
}

// controlplaneNamespace is the webhook's namespace in the control plane.
const controlplaneNamespace = "daemonguard"

func hasPath(ops []struct{ Op, Path string }, sub string) bool {
	for _, op := range ops {
		if strings.Contains(op.Path, sub) {
			return true
		}
	}
	return false
}

func hasViolation(vs []struct{ Rule, Action, Field, Message string }, rule, action string) bool {
	for _, v := range vs {
		if v.Rule == rule && v.Action == action {
			return true
		}
	}
	return false
}

func decodeReports(t *testing.T, out string) []openreportsv1alpha1.Report {
	t.Helper()
	var reps []openreportsv1alpha1.Report
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	for {
		var r openreportsv1alpha1.Report
		if err := d.Decode(&r); err != nil {
			break
		}
		if r.Kind != "Report" || r.APIVersion != "openreports.io/v1alpha1" {
			t.Fatalf("not a Report: %s %s", r.APIVersion, r.Kind)
		}
		reps = append(reps, r)
	}
	return reps
}

// findResult returns the result for DaemonSet name and rule, or nil.
func findResult(r *openreportsv1alpha1.Report, name, rule string) *openreportsv1alpha1.ReportResult {
	for i := range r.Results {
		res := &r.Results[i]
		if res.Rule == rule && len(res.Subjects) == 1 && res.Subjects[0].Name == name && res.Subjects[0].Kind == "DaemonSet" {
			return res
		}
	}
	return nil
}

func checkResult(t *testing.T, r *openreportsv1alpha1.Report, name, rule, result, severity string) {
	t.Helper()
	res := findResult(r, name, rule)
	if res == nil {
		t.Errorf("no result for %s %s", name, rule)
		return
	}
	if string(res.Result) != result || string(res.Severity) != severity || res.Source != "daemonguard" || res.Timestamp.Seconds == 0 {
		t.Errorf("%s %s: result %s severity %s source %s, want %s %s daemonguard", name, rule, res.Result, res.Severity, res.Source, result, severity)
	}
	if result == "fail" || result == "warn" {
		if res.Description == "" || res.Properties["field"] == "" {
			t.Errorf("%s %s: no message or field: %+v", name, rule, res)
		}
	}
}

// TestScanManyDaemonSets lists a few hundred DaemonSets (DG_SCAN_N, default
// 300) and checks that scan lists them once, page by page, and never GETs
// one: the requests are counted by the proxy's RoundTripper.
func TestScanManyDaemonSets(t *testing.T) {
	n := 300
	if v := os.Getenv("DG_SCAN_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	ns := namespace(t, "many")
	start := time.Now()
	createMany(t, ns, n)
	t.Logf("created %d DaemonSets in %s (16 concurrent creates)", n, time.Since(start).Round(time.Millisecond))

	const pageSize = 100
	proxy.take()
	start = time.Now()
	out := runScan(t, "--namespace", ns, "--page-size", strconv.Itoa(pageSize), "-o", "json")
	elapsed := time.Since(start)
	requests := proxy.take()
	if out.code != 1 {
		t.Fatalf("exit %d, want 1 (every tenth is denied)\n%s", out.code, out.stderr)
	}
	var r jsonReport
	if err := json.Unmarshal([]byte(out.stdout), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Results) != n {
		t.Fatalf("%d results, want %d", len(r.Results), n)
	}
	lists, other := 0, 0
	for _, req := range requests {
		switch {
		case strings.HasPrefix(req, "GET /apis/apps/v1/namespaces/"+ns+"/daemonsets?"):
			lists++
		case strings.Contains(req, "/daemonsets/"):
			t.Errorf("a per-object request: %s", req)
		default:
			other++
		}
	}
	wantPages := (n + pageSize - 1) / pageSize
	if lists != wantPages {
		t.Errorf("%d list requests, want %d pages of %d", lists, wantPages, pageSize)
	}
	if other > 3 { // the policy ConfigMap lookup, the PriorityClass list and the Node list
		t.Errorf("%d other requests, want at most 3: %v", other, requests)
	}
	if !strings.Contains(out.stderr, "DaemonSets reviewed") {
		t.Errorf("no progress on stderr: %q", out.stderr)
	}
	t.Logf("SCAN %d DaemonSets: %s wall (binary start to exit), %d API requests (%d list pages of %d, %d other)", n, elapsed.Round(time.Millisecond), len(requests), lists, pageSize, other)
	fmt.Printf("BENCH scan_%d_daemonsets_seconds %.3f\nBENCH scan_%d_daemonsets_api_requests %d\n", n, elapsed.Seconds(), n, len(requests))
}

// createMany creates n DaemonSets in ns, 16 at a time; every tenth is one
// the policy denies.
func createMany(t *testing.T, ns string, n int) {
	t.Helper()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		ds := daemonSet(ns, fmt.Sprintf("agent-%04d", i), nil)
		if i%10 == 0 {
			ds = daemonSet(ns, fmt.Sprintf("agent-%04d", i), hostPIDWritable)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.Create(ctx, ds); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

// TestScanJudgesWithTheNodes: scan lists the cluster's Nodes, as the
// Reporter reads its node cache, so the node-aware rules say the same in
// both: a DaemonSet whose selector matches none of the nodes is found.
func TestScanJudgesWithTheNodes(t *testing.T) {
	ns := namespace(t, "nodes")
	for _, name := range []string{"worker-a", "worker-b"} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/os": "linux", "pool": "general"}}}
		create(t, node)
		t.Cleanup(func() { _ = c.Delete(context.Background(), node) })
		// The API server taints a new Node not-ready until its kubelet
		// reports; these nodes are ready.
		node.Spec.Taints = nil
		if err := c.Update(context.Background(), node); err != nil {
			t.Fatal(err)
		}
	}
	create(t,
		daemonSet(ns, "gpu-only", func(s *corev1.PodSpec) { complete(s); s.NodeSelector = map[string]string{"pool": "gpu"} }),
		daemonSet(ns, "everywhere", complete),
	)
	out := runScan(t, "--namespace", ns, "-o", "json")
	if out.code != 0 {
		t.Fatalf("exit %d, want 0 (warnings only)\n%s", out.code, out.stderr)
	}
	if strings.Contains(out.stderr, "cannot list Nodes") {
		t.Fatalf("scan could not list the Nodes:\n%s", out.stderr)
	}
	var r jsonReport
	if err := json.Unmarshal([]byte(out.stdout), &r); err != nil {
		t.Fatalf("%v\n%s", err, out.stdout)
	}
	found := map[string][]string{}
	for _, res := range r.Results {
		for _, v := range res.Violations {
			found[res.Name] = append(found[res.Name], v.Rule)
		}
	}
	if !slices.Contains(found["gpu-only"], "matches-no-node") {
		t.Errorf("gpu-only: findings %v, want matches-no-node (its selector pool=gpu matches neither node)", found["gpu-only"])
	}
	if slices.Contains(found["everywhere"], "matches-no-node") || slices.Contains(found["everywhere"], "node-coverage") {
		t.Errorf("everywhere: findings %v, want no node finding", found["everywhere"])
	}
}
