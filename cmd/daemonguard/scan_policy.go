package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/kube"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/validators/nodes"
)

// Which policy scan reviews under: --config, the chart's ConfigMap, or the
// built-in defaults, with the cluster's PriorityClasses.

// chartPolicyLabel selects the policy ConfigMap the chart installs
// (<fullname>-policy, key policy.yaml).
const chartPolicyLabel = "app.kubernetes.io/part-of=daemonguard"

// scanPolicy compiles the policy scan reviews under: --config, else the
// chart's policy ConfigMap, else the defaults (with a note). PriorityClass
// lookups use the cluster's classes, listed once.
func scanPolicy(ctx context.Context, o *scanOptions, cs *kube.Clientset, stderr io.Writer) (*policy.Policy, error) {
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
	cluster, err := listNodes(ctx, cs, o.pageSize)
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard scan: note: cannot list Nodes (%v); the node-aware rules (node-coverage, matches-no-node, does-not-fit) find nothing\n", err)
	} else {
		// The webhook's Reporter judges with its node cache: scan judges
		// with the same Nodes, so the two say the same.
		popts.Nodes = func(context.Context) ([]*corev1.Node, error) { return cluster, nil }
	}
	p, err := policy.New(cfg, popts)
	if err != nil && o.config != "" {
		err = fmt.Errorf("%s: %w", o.config, err)
	}
	return p, err
}

// findPolicyConfigMap returns the policy file in the chart's ConfigMap, where
// it was found and its namespace; nil data when there is none.
func findPolicyConfigMap(ctx context.Context, o *scanOptions, cs *kube.Clientset) ([]byte, string, string, error) {
	if o.policyConfigMap != "" {
		ns, name, _ := strings.Cut(o.policyConfigMap, "/")
		cm, err := cs.ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, "", "", fmt.Errorf("policy ConfigMap %s: %w", o.policyConfigMap, err)
		}
		data, ok := cm.Data["policy.yaml"]
		if !ok {
			return nil, "", "", fmt.Errorf("policy ConfigMap %s has no policy.yaml", o.policyConfigMap)
		}
		return []byte(data), "ConfigMap " + o.policyConfigMap, ns, nil
	}
	list, err := cs.ConfigMaps("").List(ctx, metav1.ListOptions{LabelSelector: chartPolicyLabel})
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

func listPriorityClasses(ctx context.Context, cs *kube.Clientset) (map[string]bool, error) {
	out := map[string]bool{}
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := cs.PriorityClasses().List(ctx, opts)
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

// listNodes lists the cluster's Nodes once, in pages, for the node-aware
// rules.
func listNodes(ctx context.Context, cs *kube.Clientset, pageSize int64) ([]*corev1.Node, error) {
	var out []*corev1.Node
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		list, err := cs.Nodes().List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			nodes.Slim(&list.Items[i])
			out = append(out, &list.Items[i])
		}
		if list.Continue == "" {
			return out, nil
		}
		opts.Continue = list.Continue
	}
}
