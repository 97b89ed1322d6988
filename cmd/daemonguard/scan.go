package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/reports"
)

type scanOptions struct {
	kubeconfig, namespace, selector, config, output string
	policyConfigMap, webhookNamespace               string
	pageSize                                        int64
	timeout                                         time.Duration
}

// scanReport is the JSON output of `scan`: check's report, each result
// with check's fields plus the exemptions that applied.
type scanReport struct {
	Results []scanResult `json:"results"`
	Skipped []skipped    `json:"skipped"`
}

type scanResult struct {
	checkResult
	// Exempt lists the rules and mutators an exemption skips for this
	// DaemonSet, with the policy entry that does.
	Exempt []scanExemption `json:"exempt"`

	rules []policy.RuleState
	ref   reports.Evaluation
}

type scanExemption struct {
	Rule      string `json:"rule"`
	Exemption string `json:"exemption"`
	Reason    string `json:"reason,omitempty"`
}

// chartPolicyLabel selects the policy ConfigMap the chart installs
// (<fullname>-policy, key policy.yaml).
const chartPolicyLabel = "app.kubernetes.io/part-of=daemonguard"

func parseScanFlags(args []string, stderr io.Writer) (*scanOptions, error) {
	fs := flag.NewFlagSet("daemonguard scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &scanOptions{}
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file ($KUBECONFIG, ~/.kube/config or in-cluster when empty)")
	fs.StringVar(&o.namespace, "namespace", "", "only DaemonSets in this namespace (all namespaces when empty)")
	fs.StringVar(&o.selector, "selector", "", "only DaemonSets matching this label selector")
	fs.StringVar(&o.config, "config", "", "policy file; when empty, the policy ConfigMap the chart installed (found by label), else the built-in defaults")
	fs.StringVar(&o.policyConfigMap, "policy-configmap", "", "NAMESPACE/NAME of the policy ConfigMap (key policy.yaml), instead of finding it by label")
	fs.StringVar(&o.webhookNamespace, "webhook-namespace", "", "the webhook's own namespace, exempt from every rule (default: the policy ConfigMap's namespace)")
	fs.StringVar(&o.output, "o", "text", "output: text, json (check's result fields) or openreports (Report objects as YAML)")
	fs.Int64Var(&o.pageSize, "page-size", 500, "DaemonSets per list request")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "timeout of each request to the API server")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: daemonguard scan [--kubeconfig FILE] [--namespace NS] [--selector SEL] [--config FILE] [-o text|json|openreports]

Reviews the DaemonSets already in a cluster with the same engine as the
webhook, as if each were created now: what would be denied, warned or
audited, what the mutating webhook would still fill in, and which
exemptions apply. DaemonSets are listed once, in pages; PriorityClasses are
the cluster's own.

Exit status: 0 all allowed, 1 something would be denied, 2 bad usage or the
cluster could not be read.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch o.output {
	case "text", "json", "openreports":
	default:
		return nil, fmt.Errorf("-o %q: must be text, json or openreports", o.output)
	}
	if o.config != "" && o.policyConfigMap != "" {
		return nil, errors.New("--config and --policy-configmap are exclusive")
	}
	if o.policyConfigMap != "" && !strings.Contains(o.policyConfigMap, "/") {
		return nil, fmt.Errorf("--policy-configmap %q: want NAMESPACE/NAME", o.policyConfigMap)
	}
	if o.pageSize <= 0 {
		return nil, errors.New("--page-size must be positive")
	}
	return o, nil
}

func runScan(args []string, stdout, stderr io.Writer) int {
	o, err := parseScanFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitAllowed
	}
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard scan: %v\n", err)
		return exitUsage
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard scan: finding the cluster: %v\n", err)
		return exitUsage
	}
	cfg.Timeout = o.timeout
	cfg.QPS, cfg.Burst = 50, 100
	report, err := scan(context.Background(), o, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard scan: %v\n", err)
		return exitUsage
	}
	switch o.output {
	case "json":
		err = writeJSON(stdout, report)
	case "openreports":
		err = writeOpenReports(stdout, report)
	default:
		writeScanText(stdout, report)
	}
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard scan: writing output: %v\n", err)
		return exitUsage
	}
	return exitStatus(report.Results, func(r *scanResult) bool { return r.Allowed })
}

// scan lists the DaemonSets once, page by page, and reviews each.
func scan(ctx context.Context, o *scanOptions, cfg *rest.Config, stderr io.Writer) (*scanReport, error) {
	start := time.Now()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	p, err := scanPolicy(ctx, o, cs, stderr)
	if err != nil {
		return nil, err
	}
	report := &scanReport{Results: []scanResult{}, Skipped: []skipped{}}
	opts := metav1.ListOptions{LabelSelector: o.selector, Limit: o.pageSize}
	for page := 1; ; page++ {
		list, err := cs.AppsV1().DaemonSets(o.namespace).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing DaemonSets: %w", err)
		}
		for i := range list.Items {
			r, err := scanDaemonSet(ctx, p, &list.Items[i])
			if err != nil {
				return nil, fmt.Errorf("DaemonSet %s/%s: %w", list.Items[i].Namespace, list.Items[i].Name, err)
			}
			report.Results = append(report.Results, *r)
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
		fmt.Fprintf(stderr, "daemonguard scan: %d DaemonSets reviewed (page %d, about %d left) ...\n",
			len(report.Results), page, remaining(list.RemainingItemCount))
	}
	if len(report.Results) > int(o.pageSize) {
		fmt.Fprintf(stderr, "daemonguard scan: %d DaemonSets reviewed in %s\n", len(report.Results), time.Since(start).Round(time.Millisecond))
	}
	return report, nil
}

func remaining(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

// scanPolicy compiles the policy scan reviews under: --config, else the
// chart's policy ConfigMap, else the defaults (with a note). PriorityClass
// lookups use the cluster's classes, listed once.
func scanPolicy(ctx context.Context, o *scanOptions, cs kubernetes.Interface, stderr io.Writer) (*policy.Policy, error) {
	cfg := config.Defaults()
	ownNamespace := o.webhookNamespace
	switch {
	case o.config != "":
		var err error
		if cfg, err = config.Load(o.config); err != nil {
			return nil, err
		}
	default:
		data, where, ns, err := findPolicyConfigMap(ctx, o, cs)
		switch {
		case err != nil && o.policyConfigMap != "":
			return nil, err
		case err != nil:
			fmt.Fprintf(stderr, "daemonguard scan: note: cannot look for the policy ConfigMap (%v); using the built-in defaults\n", err)
		case data == nil:
			fmt.Fprintln(stderr, "daemonguard scan: note: no daemonguard policy ConfigMap found (label "+chartPolicyLabel+", name *-policy); using the built-in defaults")
		default:
			if cfg, err = config.Parse(data); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			fmt.Fprintf(stderr, "daemonguard scan: policy from %s\n", where)
			if ownNamespace == "" {
				ownNamespace = ns
			}
		}
	}
	popts := policy.Options{OwnNamespace: ownNamespace}
	classes, err := listPriorityClasses(ctx, cs)
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard scan: note: cannot list PriorityClasses (%v); assuming the configured one exists\n", err)
	} else {
		popts.ClassExists = func(_ context.Context, name string) (bool, error) { return classes[name], nil }
	}
	p, err := policy.New(cfg, popts)
	if err != nil && o.config != "" {
		err = fmt.Errorf("%s: %w", o.config, err)
	}
	return p, err
}

// findPolicyConfigMap returns the policy file in the chart's ConfigMap, where
// it was found and its namespace; nil data when there is none.
func findPolicyConfigMap(ctx context.Context, o *scanOptions, cs kubernetes.Interface) ([]byte, string, string, error) {
	if o.policyConfigMap != "" {
		ns, name, _ := strings.Cut(o.policyConfigMap, "/")
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, "", "", fmt.Errorf("policy ConfigMap %s: %w", o.policyConfigMap, err)
		}
		data, ok := cm.Data["policy.yaml"]
		if !ok {
			return nil, "", "", fmt.Errorf("policy ConfigMap %s has no policy.yaml", o.policyConfigMap)
		}
		return []byte(data), "ConfigMap " + o.policyConfigMap, ns, nil
	}
	list, err := cs.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{LabelSelector: chartPolicyLabel})
	if err != nil {
		return nil, "", "", err
	}
	var found []int
	for i := range list.Items {
		cm := &list.Items[i]
		if _, ok := cm.Data["policy.yaml"]; ok && strings.HasSuffix(cm.Name, "-policy") {
			found = append(found, i)
		}
	}
	switch len(found) {
	case 0:
		return nil, "", "", nil
	case 1:
		cm := &list.Items[found[0]]
		return []byte(cm.Data["policy.yaml"]), "ConfigMap " + cm.Namespace + "/" + cm.Name, cm.Namespace, nil
	}
	var names []string
	for _, i := range found {
		names = append(names, list.Items[i].Namespace+"/"+list.Items[i].Name)
	}
	return nil, "", "", fmt.Errorf("several daemonguard policy ConfigMaps (%s): choose one with --policy-configmap or --config", strings.Join(names, ", "))
}

func listPriorityClasses(ctx context.Context, cs kubernetes.Interface) (map[string]bool, error) {
	out := map[string]bool{}
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := cs.SchedulingV1().PriorityClasses().List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			out[list.Items[i].Name] = true
		}
		if list.Continue == "" {
			return out, nil
		}
		opts.Continue = list.Continue
	}
}

// scanDaemonSet reviews one listed DaemonSet as check reviews a file's: the
// same checkDaemonSet, as a CREATE.
func scanDaemonSet(ctx context.Context, p *policy.Policy, ds *appsv1.DaemonSet) (*scanResult, error) {
	obj := ds.DeepCopy()
	obj.APIVersion, obj.Kind = "apps/v1", "DaemonSet"
	obj.ManagedFields = nil
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	d, err := newDocument("cluster", data)
	if err != nil {
		return nil, err
	}
	c, err := checkDaemonSet(p, d, nil, ds.Namespace)
	if err != nil {
		return nil, err
	}
	r := &scanResult{checkResult: *c, Exempt: []scanExemption{}, rules: p.RuleStates(ds.Namespace, ds)}
	for _, s := range r.rules {
		if s.Exempt != nil {
			r.Exempt = append(r.Exempt, newScanExemption(s.ID, *s.Exempt))
		}
	}
	mex := p.MutatorExemptions(ds.Namespace, ds)
	names := make([]string, 0, len(mex))
	for name := range mex {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r.Exempt = append(r.Exempt, newScanExemption(name, mex[name]))
	}
	r.ref = reports.Evaluation{Ref: reports.Ref(ds), Violations: r.Violations, Rules: r.rules}
	if !r.Allowed && len(r.Violations) == 0 {
		// The mutating webhook refused the object itself.
		r.ref.Error = strings.Join(r.Warnings, "; ")
	}
	return r, nil
}

func newScanExemption(name string, e policy.Exemption) scanExemption {
	x := scanExemption{Rule: name, Exemption: fmt.Sprintf("exemptions[%d]", e.Index), Reason: e.Reason}
	if e.Index < 0 {
		x.Exemption = "own-namespace"
	}
	return x
}

// writeOpenReports prints the Reports the Reporter would write, one per
// namespace, as YAML documents.
func writeOpenReports(w io.Writer, r *scanReport) error {
	byNamespace := map[string][]scanResult{}
	var namespaces []string
	for _, res := range r.Results {
		if _, ok := byNamespace[res.Namespace]; !ok {
			namespaces = append(namespaces, res.Namespace)
		}
		byNamespace[res.Namespace] = append(byNamespace[res.Namespace], res)
	}
	sort.Strings(namespaces)
	now := metav1.Timestamp{Seconds: time.Now().Unix()}
	for i, ns := range namespaces {
		var results []openreportsv1alpha1.ReportResult
		for _, res := range byNamespace[ns] {
			results = append(results, reports.Results(res.ref)...)
		}
		rep := reports.Build(ns, results, nil, now, 0)
		data, err := yaml.Marshal(rep)
		if err != nil {
			return err
		}
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}

// writeScanText prints a summary first (counts per rule, what mutation
// would fill in, exemptions), then the worst offenders.
func writeScanText(w io.Writer, r *scanReport) {
	type count struct{ rule, action string }
	perRule := map[count]int{}
	mutated := map[string]int{}
	exempt := map[string]int{}
	denied, namespaces := 0, map[string]bool{}
	for _, res := range r.Results {
		namespaces[res.Namespace] = true
		if !res.Allowed {
			denied++
		}
		seen := map[count]bool{}
		for _, v := range res.Violations {
			seen[count{v.Rule, v.Action}] = true
		}
		for k := range seen {
			perRule[k]++
		}
		fields := map[string]bool{}
		for _, op := range res.Patch {
			if f := mutatedField(op.Path); f != "" {
				fields[f] = true
			}
		}
		for f := range fields {
			mutated[f]++
		}
		for _, e := range res.Exempt {
			exempt[e.Rule+" by "+e.Exemption]++
		}
	}
	fmt.Fprintf(w, "%d DaemonSet(s) in %d namespace(s): %d allowed, %d would be denied\n", len(r.Results), len(namespaces), len(r.Results)-denied, denied)
	if len(perRule) > 0 {
		fmt.Fprintln(w, "\nFindings (DaemonSets per rule and action):")
		keys := make([]count, 0, len(perRule))
		for k := range perRule {
			keys = append(keys, k)
		}
		order := map[string]int{policy.Deny: 0, policy.Warn: 1, policy.Audit: 2}
		sort.Slice(keys, func(i, j int) bool {
			a, b := keys[i], keys[j]
			if order[a.action] != order[b.action] {
				return order[a.action] < order[b.action]
			}
			if perRule[a] != perRule[b] {
				return perRule[a] > perRule[b]
			}
			return a.rule < b.rule
		})
		for _, k := range keys {
			fmt.Fprintf(w, "  %-6s %-40s %d\n", k.action, k.rule, perRule[k])
		}
	}
	printCounts(w, "\nMutation would still fill in (DaemonSets per field):", mutated)
	printCounts(w, "\nExempt (DaemonSets per rule or mutator and exemption):", exempt)

	type offender struct {
		res               *scanResult
		deny, warn, audit int
	}
	var worst []offender
	for i := range r.Results {
		o := offender{res: &r.Results[i]}
		for _, v := range o.res.Violations {
			switch v.Action {
			case policy.Deny:
				o.deny++
			case policy.Warn:
				o.warn++
			default:
				o.audit++
			}
		}
		if o.deny+o.warn+o.audit > 0 {
			worst = append(worst, o)
		}
	}
	sort.SliceStable(worst, func(i, j int) bool {
		a, b := worst[i], worst[j]
		if a.deny != b.deny {
			return a.deny > b.deny
		}
		if a.warn != b.warn {
			return a.warn > b.warn
		}
		return a.audit > b.audit
	})
	if len(worst) == 0 {
		return
	}
	const top = 10
	fmt.Fprintf(w, "\nWorst offenders (%d of %d with findings):\n", min(top, len(worst)), len(worst))
	for _, o := range worst[:min(top, len(worst))] {
		verdict := "allowed"
		if !o.res.Allowed {
			verdict = "DENIED"
		}
		fmt.Fprintf(w, "DaemonSet %s/%s: %s (%d deny, %d warn, %d audit)\n", o.res.Namespace, o.res.Name, verdict, o.deny, o.warn, o.audit)
		for _, v := range o.res.Violations {
			fmt.Fprintf(w, "  %-6s [%s] %s: %s\n", v.Action, v.Rule, v.Field, v.Message)
		}
	}
}

func printCounts(w io.Writer, title string, m map[string]int) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintln(w, title)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		fmt.Fprintf(w, "  %-50s %d\n", k, m[k])
	}
}

// mutatedField names what a patch operation fills in, without list indices.
func mutatedField(path string) string {
	switch {
	case strings.HasPrefix(path, "/metadata/annotations"):
		return "" // the record of the other operations
	case strings.Contains(path, "/tolerations"):
		return "tolerations"
	case strings.Contains(path, "priorityClassName"):
		return "priorityClassName"
	case strings.Contains(path, "/resources"):
		return "resources"
	}
	return path
}
