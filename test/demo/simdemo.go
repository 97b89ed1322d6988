package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/test/internal/controlplane"
	"github.com/daemonguard/daemonguard/test/internal/sim"
)

// demoSimNodes is the simulated cluster's size in the demo.
const demoSimNodes = 100

// runSimDemo shows the node-aware rules on a simulated cluster: the real
// DaemonSet controller and scheduler place the pods, and what daemonguard
// warned about at create time is what happens.
func runSimDemo(ctx context.Context, out io.Writer, logFile io.Writer) error {
	section(out, fmt.Sprintf("4. On %d simulated nodes: what the DaemonSet will really do", demoSimNodes))
	fmt.Fprintln(out, "Starting kube-apiserver, etcd, the real kube-controller-manager and kube-scheduler,")
	fmt.Fprintf(out, "kwok with %d nodes (control plane, GPU pool tainted dedicated=gpu, small and large pools)\n", demoSimNodes)
	fmt.Fprintln(out, "and the daemonguard webhook ...")
	start := time.Now()
	cluster, err := sim.Start(ctx, sim.Options{Nodes: demoSimNodes, Webhook: true, Log: logFile, ReadyTimeout: 3 * time.Minute})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "\nStopping the simulated cluster.")
		if err := cluster.Stop(); err != nil {
			fmt.Fprintf(out, "cleanup: %v\n", err)
		}
	}()
	fmt.Fprintf(out, "Ready in %s.\n", time.Since(start).Round(100*time.Millisecond))
	w := &controlplane.WarningRecorder{}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: cluster.Client.Scheme()})
	if err != nil {
		return err
	}
	if err := cluster.CreateNamespace(ctx, "monitoring"); err != nil {
		return err
	}
	agent := func(ns, name string, edit ...func(*corev1.PodSpec)) *appsv1.DaemonSet {
		labels := map[string]string{"app": name}
		ds := &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}}}},
		}
		for _, e := range edit {
			e(&ds.Spec.Template.Spec)
		}
		return ds
	}
	create := func(ds *appsv1.DaemonSet) error {
		fmt.Fprintf(out, "\n$ kubectl apply -f %s.yaml   # namespace %s\n", ds.Name, ds.Namespace)
		err := c.Create(ctx, ds)
		for _, line := range w.Take() {
			fmt.Fprintf(out, "  Warning: %s\n", line)
		}
		if apierrors.IsInvalid(err) {
			fmt.Fprintf(out, "  DENIED: %s\n", err.Error())
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  daemonset.apps/%s created\n", ds.Name)
		return nil
	}
	settle := func(ds *appsv1.DaemonSet) (desired, ready int32) {
		// The controller and scheduler act within a second or two; give
		// them at most 20.
		deadline := time.Now().Add(20 * time.Second)
		for {
			got := &appsv1.DaemonSet{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(ds), got); err == nil {
				s := got.Status
				if (s.DesiredNumberScheduled > 0 && s.NumberReady == s.DesiredNumberScheduled) || time.Now().After(deadline) {
					return s.DesiredNumberScheduled, s.NumberReady
				}
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	fmt.Fprintln(out, "\nAn agent without tolerations, first where daemonguard does not act (kube-system is exempt):")
	plain := agent("kube-system", "node-agent")
	if err := create(plain); err != nil {
		return err
	}
	d, r := settle(plain)
	fmt.Fprintf(out, "  → the DaemonSet controller runs it on %d of %d nodes (%d ready): the control plane and the GPU pool are silently missed\n", d, demoSimNodes, r)

	fmt.Fprintln(out, "\nThe same agent in monitoring: daemonguard injects the control-plane toleration and says what is still missed:")
	guarded := agent("monitoring", "node-agent")
	if err := create(guarded); err != nil {
		return err
	}
	d, r = settle(guarded)
	fmt.Fprintf(out, "  → runs on %d of %d nodes (%d ready), as the warning said\n", d, demoSimNodes, r)

	fmt.Fprintln(out, "\nA PriorityClass name with a typo: the API server accepts it, the controller creates nothing:")
	typo := agent("monitoring", "typo-agent", func(s *corev1.PodSpec) { s.PriorityClassName = "infra-daemonsets" })
	if err := create(typo); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace("monitoring"), client.MatchingLabels{"app": "typo-agent"}); err != nil {
		return err
	}
	var events corev1.EventList
	if err := c.List(ctx, &events, client.InNamespace("monitoring")); err != nil {
		return err
	}
	failed := 0
	for _, e := range events.Items {
		if e.InvolvedObject.Name == "typo-agent" && e.Reason == "FailedCreate" {
			failed += int(e.Count)
		}
	}
	fmt.Fprintf(out, "  → %d pods; %d FailedCreate events on the DaemonSet\n", len(pods.Items), failed)

	fmt.Fprintln(out, "\nA hostPort exporter with maxSurge 1: its first image bump would stall on every node (kubernetes#106417):")
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	exporter := agent("monitoring", "port-exporter", func(s *corev1.PodSpec) {
		s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 9100, HostPort: 9100}}
	})
	exporter.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: &one, MaxUnavailable: &zero}}
	if err := create(exporter); err != nil {
		return err
	}
	fmt.Fprintln(out, strings.Repeat(" ", 2)+"(test/sim shows the stall itself on the real controllers; make sim-up leaves such a cluster running)")
	return runExplainDemo(ctx, out, cluster)
}
