package benche2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
)

// An arm is what admits DaemonSets while it is measured.
type arm int

const (
	none        arm = iota // no webhooks, no admission policies
	daemonguard            // the shipped webhook configurations, pointed at serve
	anchor                 // the VAP+MAP equivalents in testdata
	null                   // the shipped configurations without matchConditions, pointed at an allow-everything webhook: the floor for two hops
	numArms
)

func (a arm) String() string { return [...]string{"none", "daemonguard", "vap+map", "null pair"}[a] }

// order rotates the arms by round, so that no arm always runs first or
// right after another.
func order(round int) []arm {
	out := make([]arm, numArms)
	for i := range out {
		out[i] = arm((round + i) % int(numArms))
	}
	return out
}

// admission holds the objects each arm installs.
type admission struct {
	mutating   *admissionregv1.MutatingWebhookConfiguration
	validating *admissionregv1.ValidatingWebhookConfiguration
	map_       *admissionregv1.MutatingAdmissionPolicy
	mapBinding *admissionregv1.MutatingAdmissionPolicyBinding
	vap        *admissionregv1.ValidatingAdmissionPolicy
	vapBinding *admissionregv1.ValidatingAdmissionPolicyBinding
	// nullMutating and nullValidating are the null arm's configurations.
	nullMutating   *admissionregv1.MutatingWebhookConfiguration
	nullValidating *admissionregv1.ValidatingWebhookConfiguration
}

// loadAdmission reads the shipped webhook configurations, pointed at
// serve with its CA (without their matchConditions unless conditions), the
// same pointed at the null webhook with no matchConditions, and the anchor
// policies.
func loadAdmission(tb testing.TB, hookURL, nullURL string, caPEM []byte, conditions bool) *admission {
	tb.Helper()
	m, v, err := controlplane.WebhookConfigurations()
	if err != nil {
		tb.Fatal(err)
	}
	nm, nv := m.DeepCopy(), v.DeepCopy()
	nm.Name, nv.Name = m.Name+"-null", v.Name+"-null"
	for _, hook := range []struct {
		m   *admissionregv1.MutatingWebhookConfiguration
		v   *admissionregv1.ValidatingWebhookConfiguration
		url string
	}{{m, v, hookURL}, {nm, nv, nullURL}} {
		for i := range hook.m.Webhooks {
			controlplane.PointAt(&hook.m.Webhooks[i].ClientConfig, hook.url)
			hook.m.Webhooks[i].ClientConfig.CABundle = caPEM
		}
		for i := range hook.v.Webhooks {
			controlplane.PointAt(&hook.v.Webhooks[i].ClientConfig, hook.url)
			hook.v.Webhooks[i].ClientConfig.CABundle = caPEM
		}
	}
	for i := range nm.Webhooks {
		nm.Webhooks[i].MatchConditions = nil
	}
	if !conditions {
		for i := range v.Webhooks {
			v.Webhooks[i].MatchConditions = nil
		}
	}
	for i := range nv.Webhooks {
		nv.Webhooks[i].MatchConditions = nil
	}
	a := &admission{mutating: m, validating: v, nullMutating: nm, nullValidating: nv}
	if err := a.readAnchor(filepath.Join("testdata", "anchor-policies.yaml")); err != nil {
		tb.Fatal(err)
	}
	return a
}

// readAnchor decodes the four anchor objects, strictly.
func (a *admission) readAnchor(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return err
		}
		var obj any
		switch meta.Kind {
		case "MutatingAdmissionPolicy":
			a.map_ = &admissionregv1.MutatingAdmissionPolicy{}
			obj = a.map_
		case "MutatingAdmissionPolicyBinding":
			a.mapBinding = &admissionregv1.MutatingAdmissionPolicyBinding{}
			obj = a.mapBinding
		case "ValidatingAdmissionPolicy":
			a.vap = &admissionregv1.ValidatingAdmissionPolicy{}
			obj = a.vap
		case "ValidatingAdmissionPolicyBinding":
			a.vapBinding = &admissionregv1.ValidatingAdmissionPolicyBinding{}
			obj = a.vapBinding
		default:
			return fmt.Errorf("%s: unexpected kind %q", path, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return fmt.Errorf("%s: %s: %w", path, meta.Kind, err)
		}
	}
	if a.map_ == nil || a.mapBinding == nil || a.vap == nil || a.vapBinding == nil {
		return fmt.Errorf("%s: want a MutatingAdmissionPolicy, a ValidatingAdmissionPolicy and a binding for each", path)
	}
	return nil
}

// switchTo removes what the other arms installed, installs a's objects and
// waits until the API server demonstrably admits through them and only them.
func (c *cluster) switchTo(ctx context.Context, tb testing.TB, adm *admission, a arm) {
	tb.Helper()
	reg := c.admin.AdmissionregistrationV1()
	del := func(err error) {
		if err != nil && !apierrors.IsNotFound(err) {
			tb.Fatal(err)
		}
	}
	create := func(err error) {
		if err != nil && !apierrors.IsAlreadyExists(err) {
			tb.Fatal(err)
		}
	}
	opts, dopts := metav1.CreateOptions{}, metav1.DeleteOptions{}
	if a != daemonguard {
		if c.matchConditions {
			adm.keepMatchConditions(ctx, tb, c)
		}
		del(reg.MutatingWebhookConfigurations().Delete(ctx, adm.mutating.Name, dopts))
		del(reg.ValidatingWebhookConfigurations().Delete(ctx, adm.validating.Name, dopts))
	}
	if a != null {
		del(reg.MutatingWebhookConfigurations().Delete(ctx, adm.nullMutating.Name, dopts))
		del(reg.ValidatingWebhookConfigurations().Delete(ctx, adm.nullValidating.Name, dopts))
	}
	if a != anchor {
		del(reg.MutatingAdmissionPolicyBindings().Delete(ctx, adm.mapBinding.Name, dopts))
		del(reg.MutatingAdmissionPolicies().Delete(ctx, adm.map_.Name, dopts))
		del(reg.ValidatingAdmissionPolicyBindings().Delete(ctx, adm.vapBinding.Name, dopts))
		del(reg.ValidatingAdmissionPolicies().Delete(ctx, adm.vap.Name, dopts))
	}
	// The API server drops deleted configurations and policies a moment
	// later: with two arms in force at once, the one that mutates first
	// would spare the other its work.
	if err := c.waitArm(ctx, tb, none); err != nil {
		tb.Fatalf("leaving the other arms: %v", err)
	}
	switch a {
	case daemonguard:
		_, err := reg.MutatingWebhookConfigurations().Create(ctx, adm.mutating, opts)
		create(err)
		_, err = reg.ValidatingWebhookConfigurations().Create(ctx, adm.validating, opts)
		create(err)
	case null:
		_, err := reg.MutatingWebhookConfigurations().Create(ctx, adm.nullMutating, opts)
		create(err)
		_, err = reg.ValidatingWebhookConfigurations().Create(ctx, adm.nullValidating, opts)
		create(err)
	case anchor:
		_, err := reg.MutatingAdmissionPolicies().Create(ctx, adm.map_, opts)
		create(err)
		_, err = reg.MutatingAdmissionPolicyBindings().Create(ctx, adm.mapBinding, opts)
		create(err)
		_, err = reg.ValidatingAdmissionPolicies().Create(ctx, adm.vap, opts)
		create(err)
		_, err = reg.ValidatingAdmissionPolicyBindings().Create(ctx, adm.vapBinding, opts)
		create(err)
	}
	if err := c.waitArm(ctx, tb, a); err != nil {
		tb.Fatalf("switching to %s: %v", a, err)
	}
}

// keepMatchConditions copies the matchConditions serve last wrote into the
// configuration switchTo recreates: serve only rechecks them once a minute,
// and in a cluster the configuration stays with what serve wrote.
func (adm *admission) keepMatchConditions(ctx context.Context, tb testing.TB, c *cluster) {
	tb.Helper()
	stored, err := c.admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, adm.mutating.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		tb.Fatal(err)
	}
	for i := range adm.mutating.Webhooks {
		adm.mutating.Webhooks[i].MatchConditions = stored.Webhooks[i].MatchConditions
	}
}

// waitArm dry-run creates a DaemonSet that needs defaults and one that
// must be denied until both come back as arm a answers them: mutated and
// denied, or (none, null) neither, the null webhook answering both calls of
// each (null) or none. With serve managing the mutating webhook's
// matchConditions, it also waits until they are written.
func (c *cluster) waitArm(ctx context.Context, tb testing.TB, a arm) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	guarded := a == daemonguard || a == anchor
	wantNull := 0
	if a == null {
		wantNull = 4 // mutate and validate, for each of the two probes
	}
	var last string
	for {
		before := c.nullReviews(tb)
		mutated, denied, err := c.probe(ctx)
		nullCalls := c.nullReviews(tb) - before
		switch {
		case err != nil:
			last = err.Error()
		case mutated != guarded || denied != guarded:
			last = fmt.Sprintf("probe mutated %v, hostile object denied %v", mutated, denied)
		case nullCalls != wantNull:
			last = fmt.Sprintf("the null webhook answered %d reviews for the two probes, want %d", nullCalls, wantNull)
		case a == daemonguard && c.matchConditions && !c.hasMatchConditions(ctx):
			last = "the mutating webhook has no matchConditions yet"
		default:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not in force within a minute: %s", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// probe reports whether a DaemonSet lacking defaults comes back mutated and
// whether one with hostPID and a writable hostPath of / is denied.
func (c *cluster) probe(ctx context.Context) (mutated, denied bool, err error) {
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	out, err := c.admin.AppsV1().DaemonSets("default").Create(ctx, controlplane.Probe("default"), dry)
	if err != nil {
		return false, false, fmt.Errorf("probe: %w", err)
	}
	mutated = out.Spec.Template.Spec.PriorityClassName != ""
	_, err = c.admin.AppsV1().DaemonSets("default").Create(ctx, hostile(), dry)
	switch {
	case apierrors.IsInvalid(err) || apierrors.IsForbidden(err):
		return mutated, true, nil
	case err != nil:
		return mutated, false, fmt.Errorf("hostile object: %w", err)
	}
	return mutated, false, nil
}

func (c *cluster) hasMatchConditions(ctx context.Context) bool {
	m, err := c.admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, webhookConfigurationName, metav1.GetOptions{})
	return err == nil && len(m.Webhooks) > 0 && len(m.Webhooks[0].MatchConditions) > 0
}

// hostile runs with the host's PIDs and / mounted writable: every arm but
// none denies it.
func hostile() *appsv1.DaemonSet {
	ds := dstest.DaemonSet(dstest.HostPID, dstest.HostVolume("root", "/"),
		dstest.Container("agent", dstest.Mount("root", "/host")))
	ds.Name = "daemonguard-bench-hostile"
	labels := map[string]string{"app": ds.Name}
	ds.Spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
	ds.Spec.Template.Labels = labels
	return ds
}
