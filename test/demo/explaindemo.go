package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/internal/explain"
	"github.com/daemonguard/daemonguard/internal/explain/live"
	"github.com/daemonguard/daemonguard/internal/kube"
	"github.com/daemonguard/daemonguard/test/internal/sim"
)

// runExplainDemo is section 5: after the apply, what `daemonguard explain`
// says about the DaemonSets the coverage part left running, and about a
// rollout that stalls where daemonguard does not act (kube-system is exempt).
func runExplainDemo(ctx context.Context, out io.Writer, cluster *sim.Cluster) error {
	section(out, "5. After the apply: daemonguard explain, node by node")
	cs, err := kube.NewForConfig(cluster.Config)
	if err != nil {
		return err
	}
	show := func(ns, name string) error {
		fmt.Fprintf(out, "\n$ daemonguard explain -n %s ds/%s\n", ns, name)
		start := time.Now()
		in, err := live.Read(ctx, cs, ns, name, live.Options{})
		if err != nil {
			return err
		}
		r := explain.Explain(in)
		var b bytes.Buffer
		if err := r.WriteText(&b); err != nil {
			return err
		}
		for _, line := range strings.SplitAfter(b.String(), "\n") {
			if line != "" {
				fmt.Fprint(out, "  "+line)
			}
		}
		code := 0
		if !r.OK {
			code = 1
		}
		fmt.Fprintf(out, "  (exit status %d; %s)\n", code, time.Since(start).Round(time.Millisecond))
		return nil
	}
	fmt.Fprintln(out, "\nThe guarded agent: every node it is meant for, and why not the rest:")
	if err := show("monitoring", "node-agent"); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nThe PriorityClass typo: no pod anywhere, and the controller's own words:")
	if err := show("monitoring", "typo-agent"); err != nil {
		return err
	}

	fmt.Fprintln(out, "\nThe hostPort exporter with maxSurge 1 where nothing refuses it (kube-system is exempt), after an image bump:")
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	labels := map[string]string{"app": "port-exporter"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "port-exporter"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "exporter", Image: "exporter:1", Ports: []corev1.ContainerPort{{ContainerPort: 9100, HostPort: 9100}}}},
			}},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: &one, MaxUnavailable: &zero}},
		},
	}
	if err := cluster.Client.Create(ctx, ds); err != nil {
		return err
	}
	// The controller and the scheduler act within seconds; wait at most 30.
	wait := func(what string, done func(*appsv1.DaemonSet, []corev1.Pod) bool) error {
		deadline := time.Now().Add(30 * time.Second)
		for {
			cur := &appsv1.DaemonSet{}
			var pods corev1.PodList
			if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(ds), cur); err != nil {
				return err
			}
			if err := cluster.Client.List(ctx, &pods, client.InNamespace(ds.Namespace), client.MatchingLabels(labels)); err != nil {
				return err
			}
			if done(cur, pods.Items) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("port-exporter: %s: not within 30s (status %+v)", what, cur.Status)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	if err := wait("ready", func(d *appsv1.DaemonSet, _ []corev1.Pod) bool {
		s := d.Status
		return s.DesiredNumberScheduled > 0 && s.NumberReady == s.DesiredNumberScheduled
	}); err != nil {
		return err
	}
	cur := &appsv1.DaemonSet{}
	if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(ds), cur); err != nil {
		return err
	}
	cur.Spec.Template.Spec.Containers[0].Image = "exporter:2"
	if err := cluster.Client.Update(ctx, cur); err != nil {
		return err
	}
	if err := wait("a surge pod stuck on its port", func(_ *appsv1.DaemonSet, pods []corev1.Pod) bool {
		for _, p := range pods {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && strings.Contains(c.Message, "free ports") {
					return true
				}
			}
		}
		return false
	}); err != nil {
		return err
	}
	return show("kube-system", "port-exporter")
}
