package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/daemonguard/daemonguard/internal/explain"
	"github.com/daemonguard/daemonguard/internal/explain/live"
	"github.com/daemonguard/daemonguard/internal/kube"
)

// Exit codes of `explain`, part of its contract.
const (
	explainRunsEverywhere = 0
	explainMissing        = 1
	explainUsage          = 2
)

type explainOptions struct {
	kubeconfig, context, namespace, output string
	name                                   string
	pageSize                               int64
	timeout                                time.Duration
	verbose                                bool
}

const explainUsageText = `Usage: daemonguard explain [--kubeconfig FILE] [--context NAME] [-n NAMESPACE] daemonset/NAME [-o text|json]

Says, node by node, whether a DaemonSet runs where it should and why not:
the DaemonSet controller's own predicates (nodeSelector, required node
affinity, taints against its tolerations and the ones the controller adds)
decide where it is meant to run; its pods, their states and the
controller's FailedCreate events say what happens there. Reason codes:
Running, TaintNotTolerated, NodeSelectorMismatch, NodeAffinityMismatch,
NotCreated, Pending, NotReady, NodeNotReady, Surplus. Then the rollout and
what blocks it, and the command to run next. Read-only: it lists nodes, the
DaemonSet's pods, events and revisions once each, in pages.

NAME may be written daemonset/NAME, ds/NAME or NAME.

Exit status: 0 every node it is meant for runs a ready daemon pod, 1 some
node lacks one (or has one that cannot be scheduled or start), 2 bad usage,
DaemonSet not found, or the cluster could not be read.

Flags:
`

func parseExplainFlags(args []string, stderr io.Writer) (*explainOptions, error) {
	fs := flag.NewFlagSet("daemonguard explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &explainOptions{}
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file ($KUBECONFIG or ~/.kube/config when empty, else in-cluster)")
	fs.StringVar(&o.context, "context", "", "kubeconfig context (its current context when empty)")
	fs.StringVar(&o.namespace, "namespace", "", "the DaemonSet's namespace (the context's namespace, else default)")
	fs.StringVar(&o.namespace, "n", "", "shorthand for --namespace")
	fs.StringVar(&o.output, "o", "text", "output: text or json")
	fs.StringVar(&o.output, "output", "text", "output: text or json")
	fs.Int64Var(&o.pageSize, "page-size", 500, "objects per list request")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "timeout of each request to the API server")
	fs.BoolVar(&o.verbose, "v", false, "print the API requests made and the time taken on stderr")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), explainUsageText)
		fs.PrintDefaults()
	}
	// kubectl lets flags follow the name: parse around it. Each round
	// consumes at least the one positional argument, so it ends.
	var names []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	switch len(names) {
	case 0:
		return nil, errors.New("which DaemonSet? give daemonset/NAME")
	case 1:
	default:
		return nil, fmt.Errorf("one DaemonSet at a time, got %q", names)
	}
	name, err := daemonSetName(names[0])
	if err != nil {
		return nil, err
	}
	o.name = name
	switch o.output {
	case "text", "json":
	default:
		return nil, fmt.Errorf("-o %q: must be text or json", o.output)
	}
	if o.pageSize <= 0 {
		return nil, errors.New("--page-size must be positive")
	}
	return o, nil
}

// daemonSetName accepts kubectl's forms: NAME, daemonset/NAME, ds/NAME,
// daemonsets/NAME, daemonset.apps/NAME.
func daemonSetName(arg string) (string, error) {
	kind, name, found := strings.Cut(arg, "/")
	if !found {
		kind, name = "daemonset", arg
	}
	switch strings.ToLower(kind) {
	case "daemonset", "daemonsets", "ds", "daemonset.apps", "daemonsets.apps":
	default:
		return "", fmt.Errorf("%q: explain works on DaemonSets (daemonset/NAME, ds/NAME or NAME)", arg)
	}
	if name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("%q: want daemonset/NAME", arg)
	}
	return name, nil
}

func runExplain(args []string, stdout, stderr io.Writer) int {
	o, err := parseExplainFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return explainRunsEverywhere
	}
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard explain: %v\n", err)
		return explainUsage
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context})
	cfg, err := loader.ClientConfig()
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard explain: finding the cluster: %v\n", err)
		return explainUsage
	}
	if o.namespace == "" {
		if o.namespace, _, err = loader.Namespace(); err != nil {
			fmt.Fprintf(stderr, "daemonguard explain: the kubeconfig's namespace: %v\n", err)
			return explainUsage
		}
	}
	cfg.Timeout = o.timeout
	cfg.QPS, cfg.Burst = 50, 100
	counter := live.Count(cfg)
	cs, err := kube.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard explain: %v\n", err)
		return explainUsage
	}
	start := time.Now()
	in, err := live.Read(context.Background(), cs, o.namespace, o.name, live.Options{PageSize: o.pageSize})
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard explain: %v\n", err)
		return explainUsage
	}
	report := explain.Explain(in)
	if o.verbose {
		fmt.Fprintf(stderr, "daemonguard explain: %d nodes, %d pods, %d events; %d API requests in %s\n",
			len(in.Nodes), len(in.Pods), len(in.Events), counter.Requests(), time.Since(start).Round(time.Millisecond))
	}
	if o.output == "json" {
		err = writeJSON(stdout, report)
	} else {
		err = report.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard explain: writing output: %v\n", err)
		return explainUsage
	}
	if !report.OK {
		return explainMissing
	}
	return explainRunsEverywhere
}
