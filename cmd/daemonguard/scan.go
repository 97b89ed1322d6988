package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/daemonguard/daemonguard/internal/kube"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/reports"
	"github.com/daemonguard/daemonguard/mutators/patch"
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

	// ev is the Reporter's evaluation, for -o openreports.
	ev reports.Evaluation
}

type scanExemption struct {
	Rule      string `json:"rule"`
	Exemption string `json:"exemption"`
	Reason    string `json:"reason,omitempty"`
}

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
	cs, err := kube.NewForConfig(cfg)
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
		list, err := cs.DaemonSets(o.namespace).List(ctx, opts)
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

// scanDaemonSet reviews one listed DaemonSet with the Reporter's own
// evaluation (reports.Evaluate, as a CREATE), and prints it with check's
// fields.
func scanDaemonSet(ctx context.Context, p *policy.Policy, ds *appsv1.DaemonSet) (*scanResult, error) {
	ev, err := reports.Evaluate(ctx, p, ds)
	if err != nil {
		return nil, err
	}
	r := &scanResult{Exempt: []scanExemption{}, ev: ev}
	if ev.Admission != nil {
		r.checkResult = *newCheckResult(p, ev.Admission, ds, ds.Namespace, "cluster", ev.Object, nil)
	} else {
		r.checkResult = checkResult{Kind: "DaemonSet", Namespace: ds.Namespace, Name: ds.Name, Source: "cluster", Operation: "CREATE",
			Patch: []patch.Operation{}, Violations: []policy.Violation{}, Warnings: []string{ev.Error}, Object: ev.Object}
	}
	for _, m := range ev.Exemptions {
		for _, name := range m.Rules {
			r.Exempt = append(r.Exempt, scanExemption{Rule: name, Exemption: m.Key(), Reason: m.Reason})
		}
	}
	return r, nil
}
