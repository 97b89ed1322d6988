package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
)

func runDemo(out io.Writer) error {
	ctx := context.Background()
	root, err := controlplane.RepoRoot()
	if err != nil {
		return err
	}
	logPath := filepath.Join(root, ".cache", "demo-webhook.log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()

	if err := runControlPlaneDemo(ctx, out, root, logFile, logPath); err != nil {
		return err
	}
	// One webhook per process (its metrics registry is global): the
	// control plane above is stopped before the simulated cluster starts.
	if err := runSimDemo(ctx, out, logFile); err != nil {
		return fmt.Errorf("simulated cluster: %w (log: %s)", err, logPath)
	}
	fmt.Fprintf(out, "\nWebhook log: %s\n", logPath)
	return nil
}

// runControlPlaneDemo is sections 1 to 3, on kube-apiserver and etcd alone.
func runControlPlaneDemo(ctx context.Context, out io.Writer, root string, logFile io.Writer, logPath string) error {
	fmt.Fprintln(out, "daemonguard demo")
	fmt.Fprintln(out, "================")
	fmt.Fprintln(out, "Starting a local kube-apiserver + etcd and the daemonguard webhook (TLS),")
	fmt.Fprintln(out, "registered with the webhook configurations from "+controlplane.Manifest+" ...")
	start := time.Now()
	env, err := controlplane.Start(ctx, controlplane.Options{Log: logFile})
	if err != nil {
		return fmt.Errorf("%w (webhook log: %s)", err, logPath)
	}
	defer func() {
		fmt.Fprintln(out, "\nCleaning up: stopping the webhook, kube-apiserver and etcd.")
		if err := env.Stop(); err != nil {
			fmt.Fprintf(out, "cleanup: %v\n", err)
		}
	}()
	fmt.Fprintf(out, "Ready in %s. The PriorityClass infra-daemonset (value 1000000) is installed, as the chart does.\n", time.Since(start).Round(100*time.Millisecond))

	w := &controlplane.WarningRecorder{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		return err
	}

	section(out, "1. The seed articles' DaemonSets: what daemonguard fills in")
	seeds, _ := filepath.Glob(filepath.Join(root, "deploy", "examples", "*.yaml"))
	sort.Strings(seeds)
	for _, f := range seeds {
		if err := apply(ctx, out, c, w, f); err != nil {
			return err
		}
	}

	section(out, "2. Unsafe DaemonSets: denied at apply time, with the rule and the field")
	unsafe, _ := filepath.Glob(filepath.Join(root, "deploy", "examples", "unsafe", "*.yaml"))
	sort.Strings(unsafe)
	for _, f := range unsafe {
		if err := apply(ctx, out, c, w, f); err != nil {
			return err
		}
	}

	section(out, "3. Applying an admitted DaemonSet again: no change, and no webhook call unless a rule could find something")
	for _, name := range []string{"gpu-monitor", "node-exporter"} {
		if err := reapply(ctx, out, env, c, name); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "  (the webhook configurations' matchConditions: see README \"matchConditions\")")
	return nil
}

// reapply updates the stored DaemonSet monitoring/name unchanged, as a
// GitOps sync does, and says what it cost.
func reapply(ctx context.Context, out io.Writer, env *controlplane.Env, c client.Client, name string) error {
	ds := &appsv1.DaemonSet{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "monitoring", Name: name}, ds); err != nil {
		return err
	}
	before := ds.ResourceVersion
	m0, v0, err := env.Reviews()
	if err != nil {
		return err
	}
	if err := c.Update(ctx, ds); err != nil {
		return err
	}
	m1, v1, err := env.Reviews()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  monitoring/%s: resourceVersion %s → %s, generation %d (no rollout); webhook calls: %v mutating, %v validating\n",
		name, before, ds.ResourceVersion, ds.Generation, m1-m0, v1-v0)
	return nil
}

func section(out io.Writer, title string) {
	fmt.Fprintf(out, "\n%s\n%s\n", title, strings.Repeat("-", len(title)))
}

// apply creates the DaemonSet in file (and its namespace) and tells what the
// API server answered, the way a user sees it from kubectl.
func apply(ctx context.Context, out io.Writer, c client.Client, w *controlplane.WarningRecorder, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	ds := &appsv1.DaemonSet{}
	if err := yaml.UnmarshalStrict(data, ds); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if ds.Namespace == "" {
		ds.Namespace = "default"
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ds.Namespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	fmt.Fprintf(out, "\n$ kubectl apply -f %s\n", filepath.Join(filepath.Base(filepath.Dir(file)), filepath.Base(file)))
	w.Take()
	err = c.Create(ctx, ds)
	for _, warning := range w.Take() {
		fmt.Fprintf(out, "  Warning: %s\n", warning)
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code == 422 {
		s := status.Status()
		fmt.Fprintf(out, "  DENIED  %s/%s\n", ds.Namespace, ds.Name)
		msg := s.Message
		if i := strings.Index(msg, ": DaemonSet.apps"); i > 0 {
			msg = msg[:i]
		}
		fmt.Fprintf(out, "  %s:\n", msg)
		if s.Details != nil {
			for _, cause := range s.Details.Causes {
				fmt.Fprintf(out, "    • %s\n      %s\n", cause.Field, strings.TrimPrefix(cause.Message, "Forbidden: "))
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	fmt.Fprintf(out, "  daemonset.apps/%s created in %s\n", ds.Name, ds.Namespace)
	injected := ds.Annotations[policy.InjectedAnnotation]
	if injected == "" {
		fmt.Fprintln(out, "  nothing injected: it already had everything")
		return nil
	}
	spec := ds.Spec.Template.Spec
	for _, field := range strings.Split(injected, ",") {
		fmt.Fprintf(out, "  + %s = %s\n", field, valueOf(&spec, field))
	}
	fmt.Fprintf(out, "  (recorded in metadata.annotations[%s])\n", policy.InjectedAnnotation)
	return nil
}

// valueOf renders the injected value at a recorded field path, for display.
func valueOf(spec *corev1.PodSpec, field string) string {
	f := strings.TrimPrefix(field, "spec.template.spec.")
	switch {
	case f == "priorityClassName":
		return spec.PriorityClassName
	case strings.HasPrefix(f, "tolerations["):
		var i int
		fmt.Sscanf(f, "tolerations[%d]", &i)
		if i < len(spec.Tolerations) {
			t := spec.Tolerations[i]
			return fmt.Sprintf("%s %s %s", t.Key, t.Operator, t.Effect)
		}
	case strings.Contains(f, ".resources."):
		var list string
		var i int
		containers := spec.Containers
		if strings.HasPrefix(f, "initContainers") {
			containers = spec.InitContainers
			fmt.Sscanf(f, "initContainers[%d]", &i)
		} else {
			fmt.Sscanf(f, "containers[%d]", &i)
		}
		rest := f[strings.Index(f, ".resources.")+len(".resources."):]
		kind, name, _ := strings.Cut(rest, ".")
		if i < len(containers) {
			list = "requests"
			rl := containers[i].Resources.Requests
			if kind == "limits" {
				list, rl = "limits", containers[i].Resources.Limits
			}
			if q, ok := rl[corev1.ResourceName(name)]; ok {
				return fmt.Sprintf("%s (container %q %s)", q.String(), containers[i].Name, list)
			}
		}
	}
	return "?"
}
