package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/defaults"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/review"
	"github.com/daemonguard/daemonguard/mutators/patch"
)

// Exit codes of `check`, part of its contract.
const (
	exitAllowed = 0
	exitDenied  = 1
	exitUsage   = 2
)

type checkOptions struct {
	config, namespace, old, output string
	// nodes is a file of Nodes (kubectl get nodes -o yaml) for the
	// node-aware rules; without it they find nothing.
	nodes string
	// namespaceSet is true when --namespace was given: kubectl then refuses
	// objects whose metadata.namespace says otherwise.
	namespaceSet bool
	// kubeVersion is the kube-apiserver minor version judged for
	// (--kube-version): the newer fields an older one does not keep are
	// judged without.
	kubeVersion int
	files       []string
}

// checkReport is the JSON (and YAML) output of `check`.
type checkReport struct {
	Results []checkResult `json:"results"`
	Skipped []skipped     `json:"skipped"`
}

type checkResult struct {
	Kind       string             `json:"kind"`
	Namespace  string             `json:"namespace"`
	Name       string             `json:"name"`
	Source     string             `json:"source"`
	Operation  string             `json:"operation"`
	Allowed    bool               `json:"allowed"`
	Mutated    bool               `json:"mutated"`
	Patch      []patch.Operation  `json:"patch"`
	Object     json.RawMessage    `json:"object"`
	Violations []policy.Violation `json:"violations"`
	Warnings   []string           `json:"warnings"`
	// Exemption is, for a denied DaemonSet, the policy exemptions[] entry
	// that would admit it and no other DaemonSet: its namespace, its name
	// and exactly the rules that denied it (policy.NarrowestExemption).
	Exemption *config.Exemption `json:"exemption,omitempty"`
	// NoExemption says, for a denied DaemonSet no entry narrower than its
	// namespace can select, why there is no Exemption.
	NoExemption string `json:"noExemption,omitempty"`
	// Why is, for a denied DaemonSet, one line per denying rule saying why
	// it denied: what to judge before exempting it, and what the
	// exemption's reason should answer.
	Why []policy.RuleWhy `json:"why,omitempty"`
	// AllowedHostPaths are, for a DaemonSet denied for host paths nobody
	// classified, the validation.allowedHostPaths entries that make them
	// known safe: the other way out, for every DaemonSet at once.
	AllowedHostPaths []config.AllowedHostPath `json:"allowedHostPaths,omitempty"`
	// ExemptedBy lists the policy's exemptions that apply to it.
	ExemptedBy policy.Exemptions `json:"exemptedBy,omitempty"`
}

type skipped struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
	Source     string `json:"source"`
	Reason     string `json:"reason"`
}

func parseCheckFlags(args []string, stderr io.Writer) (*checkOptions, error) {
	fs := flag.NewFlagSet("daemonguard check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &checkOptions{}
	fs.StringVar(&o.config, "config", "", "policy file (daemonguard.io/v1alpha1 Policy); the built-in defaults when empty")
	fs.StringVar(&o.namespace, "namespace", "default", "namespace of objects that name none, as kubectl apply -n; when given, an object naming another namespace is an error, as with kubectl")
	fs.StringVar(&o.nodes, "nodes", "", "file with the cluster's Nodes (kubectl get nodes -o yaml): the node-aware rules (node-coverage, matches-no-node, does-not-fit) judge the DaemonSets against them")
	fs.StringVar(&o.old, "old", "", "file with the DaemonSets as they are now; a DaemonSet found there (by namespace and name) is reviewed as an UPDATE, with ratcheting")
	fs.StringVar(&o.output, "o", "text", "output: text, json, or yaml (the input with DaemonSets mutated; denied ones left out)")
	kubeVersion := fs.String("kube-version", fmt.Sprintf("1.%d", defaults.Newest), fmt.Sprintf("the cluster's kube-apiserver version (1.%d to 1.%d): fields an older one drops before calling the webhooks (supplementalGroupsPolicy before 1.33, recursiveReadOnly before 1.31, ...) are judged without, as it stores them", defaults.Oldest, defaults.Newest))
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: daemonguard check [--config FILE] [--namespace NS] [--old FILE] [--nodes FILE] [--kube-version 1.N] [-o json|yaml|text] FILE...

Reviews the apps/v1 DaemonSets that "kubectl apply -f FILE..." would send, read as
kubectl reads them (files, directories, globs, "-" for stdin; YAML or JSON streams;
lists), with the same engine as the webhook: the mutating webhook's patch is
applied, then the validating rules run. Other objects are skipped and listed.
A denied DaemonSet is printed with the exemptions[] entry that would admit it.
An offline check assumes the configured PriorityClass exists.

Exit status: 0 all allowed, 1 something denied, 2 bad usage or unreadable input.

Flags:
`)
		fs.PrintDefaults()
	}
	// Flags may follow file names, as in "check ds.yaml -o json".
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		o.files = append(o.files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "namespace" {
			o.namespaceSet = true
		}
	})
	var err error
	if o.kubeVersion, err = defaults.ParseVersion(*kubeVersion); err != nil {
		return nil, fmt.Errorf("--kube-version: %w", err)
	}
	switch o.output {
	case "text", "json", "yaml":
	default:
		return nil, fmt.Errorf("-o %q: must be text, json or yaml", o.output)
	}
	if len(o.files) == 0 {
		return nil, errors.New("no input: name one or more files, or - for stdin")
	}
	return o, nil
}

func runCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseCheckFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitAllowed
	}
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard check: %v\n", err)
		return exitUsage
	}
	report, docs, err := check(o, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard check: %v\n", err)
		return exitUsage
	}
	switch o.output {
	case "json":
		err = writeJSON(stdout, report)
	case "yaml":
		err = writeMutatedYAML(stdout, stderr, report, docs)
	default:
		writeText(stdout, report)
	}
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard check: writing output: %v\n", err)
		return exitUsage
	}
	return exitStatus(report.Results, func(r *checkResult) bool { return r.Allowed })
}

// check reviews every DaemonSet in the inputs. It returns the documents too,
// in input order, for the YAML output.
func check(o *checkOptions, stdin io.Reader) (*checkReport, []*document, error) {
	cfg := config.Defaults()
	if o.config != "" {
		var err error
		if cfg, err = config.Load(o.config); err != nil {
			return nil, nil, err
		}
	}
	popts := policy.Options{}
	if o.nodes != "" {
		list, err := readNodes(&reader{stdin: stdin}, o.nodes)
		if err != nil {
			return nil, nil, err
		}
		popts.Nodes = func(context.Context) ([]*corev1.Node, error) { return list, nil }
	}
	p, err := policy.New(cfg, popts)
	if err != nil {
		if o.config != "" {
			err = fmt.Errorf("%s: %w", o.config, err)
		}
		return nil, nil, err
	}
	old := map[string]*document{}
	if o.old != "" {
		// The objects as they are now: namespaces defaulted, never enforced.
		docs, err := (&reader{stdin: stdin, namespace: o.namespace}).read(o.old)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range docs {
			if d.isDaemonSet() {
				old[namespaceOf(d, o.namespace)+"/"+d.meta.Metadata.Name] = d
			}
		}
	}
	in := &reader{stdin: stdin, namespace: o.namespace, enforce: o.namespaceSet}
	var all []*document
	for _, f := range o.files {
		docs, err := in.read(f)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, docs...)
	}
	report := &checkReport{Results: []checkResult{}, Skipped: []skipped{}}
	for _, d := range all {
		if !d.isDaemonSet() {
			report.Skipped = append(report.Skipped, skipDocument(d))
			continue
		}
		r, err := checkDaemonSet(p, d, old[namespaceOf(d, o.namespace)+"/"+d.meta.Metadata.Name], namespaceOf(d, o.namespace), o.kubeVersion)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", d.source, err)
		}
		report.Results = append(report.Results, *r)
	}
	return report, all, nil
}

// readNodes reads the Nodes in a file: a NodeList, a List, or documents.
func readNodes(r *reader, name string) ([]*corev1.Node, error) {
	docs, err := r.read(name)
	if err != nil {
		return nil, err
	}
	var out []*corev1.Node
	for _, d := range docs {
		if d.meta.APIVersion != "v1" || d.meta.Kind != "Node" {
			continue
		}
		n := &corev1.Node{}
		if err := json.Unmarshal(d.json, n); err != nil {
			return nil, fmt.Errorf("%s: %w", d.source, err)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--nodes %s: no v1 Node in it (kubectl get nodes -o yaml writes one)", name)
	}
	return out, nil
}

func namespaceOf(d *document, def string) string {
	if d.meta.Metadata.Namespace != "" {
		return d.meta.Metadata.Namespace
	}
	return def
}

func skipDocument(d *document) skipped {
	s := skipped{APIVersion: d.meta.APIVersion, Kind: d.meta.Kind, Namespace: d.meta.Metadata.Namespace,
		Name: d.meta.Metadata.Name, Source: d.source, Reason: "not an apps/v1 DaemonSet"}
	if d.meta.Kind == "DaemonSet" {
		s.Reason = fmt.Sprintf("DaemonSet %s is not served by current Kubernetes; daemonguard reviews apps/v1", d.meta.APIVersion)
	}
	return s
}

func checkDaemonSet(p *policy.Policy, d, old *document, namespace string, kubeVersion int) (*checkResult, error) {
	// The API server rejects unknown and duplicate fields under kubectl's
	// default strict validation; say so here instead of judging a
	// DaemonSet that cannot be applied as written.
	var typed appsv1.DaemonSet
	strict, err := kjson.UnmarshalStrict(d.json, &typed)
	if err != nil {
		return nil, fmt.Errorf("decoding DaemonSet: %w", err)
	}
	var oldJSON []byte
	if old != nil {
		oldJSON = old.json
	}
	a, err := review.AdmitFor(context.TODO(), p, namespace, d.json, oldJSON, kubeVersion)
	if err != nil {
		return nil, err
	}
	var warnings []string
	for _, e := range strict {
		warnings = append(warnings, "the API server would reject this object: "+e.Error())
	}
	for _, field := range a.NotKept {
		f, _ := defaults.NewerFieldAt(field)
		warnings = append(warnings, fmt.Sprintf("kube-apiserver 1.%d does not keep %s (%s): judged without it, as the webhook and the node see it there", kubeVersion, field, f.Why))
	}
	r := newCheckResult(p, a, &typed, namespace, d.source, d.json, warnings)
	if old != nil {
		r.Operation = "UPDATE"
	}
	return r, nil
}

// newCheckResult is check's (and scan's) result for one DaemonSet the
// engine admitted as a: typed is the object as given, original its JSON,
// warnings what is known about it before admission.
func newCheckResult(p *policy.Policy, a *review.Admission, typed *appsv1.DaemonSet, namespace, source string, original []byte, warnings []string) *checkResult {
	r := &checkResult{
		Kind: "DaemonSet", Namespace: namespace, Name: typed.Name, Source: source,
		Operation: "CREATE", Patch: []patch.Operation{}, Violations: []policy.Violation{}, Warnings: append([]string{}, warnings...),
	}
	if !a.Mutation.Response.Allowed {
		// The mutating webhook itself refused (an unreadable object).
		r.Warnings = append(r.Warnings, a.Mutation.Response.Result.Message)
		r.Object = original
		return r
	}
	r.Allowed = a.Validation.Response.Allowed
	r.Mutated = len(a.Mutation.Operations) > 0
	r.Patch = append(r.Patch, a.Mutation.Operations...)
	r.Object = a.Object
	r.Violations = append(r.Violations, a.Validation.Verdict.Violations...)
	r.ExemptedBy = p.Exemptions(namespace, typed)
	if !r.Allowed {
		r.Exemption = policy.NarrowestExemption(typed, namespace, a.Validation.Verdict.DeniedRules())
		if r.Exemption == nil {
			r.NoExemption = policy.NoExemptionReason(namespace)
		}
		r.Why = p.WhyDenied(&a.Validation.Verdict)
		r.AllowedHostPaths = a.Validation.Verdict.AllowedHostPaths()
	}
	r.Warnings = append(r.Warnings, a.Mutation.Response.Warnings...)
	r.Warnings = append(r.Warnings, a.Validation.Response.Warnings...)
	return r
}
