package certs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/watch"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

const (
	testNS     = "daemonguard-system"
	testSecret = "daemonguard-tls"
	testConfig = "daemonguard"
)

func testConfigurations() []runtime.Object {
	path := "/mutate-apps-v1-daemonset"
	cc := admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: testNS, Name: "daemonguard", Path: &path}}
	none := admissionregistrationv1.SideEffectClassNone
	return []runtime.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: testConfig},
			Webhooks: []admissionregistrationv1.MutatingWebhook{
				{Name: "a.daemonguard.io", ClientConfig: cc, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}},
				{Name: "b.daemonguard.io", ClientConfig: cc, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}},
			},
		},
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: testConfig},
			Webhooks:   []admissionregistrationv1.ValidatingWebhook{{Name: "v.daemonguard.io", ClientConfig: cc, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}}},
		},
		// Not ours: left alone.
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "someone-else"},
			Webhooks:   []admissionregistrationv1.ValidatingWebhook{{Name: "x.example.com", ClientConfig: cc, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}}},
		},
	}
}

// apiServer is the tests' API server: client-go's object tracker, which
// keeps no resourceVersions of its own, with resourceVersions as the API
// server keeps them: every write stamps a new one, and an update or patch
// carrying another than the stored one fails with Conflict. Its
// clientsets (one per replica, so that a reactor of one may call another)
// share the objects.
type apiServer struct {
	k8stesting.ObjectTracker
	mu sync.Mutex
	rv int64
}

// newAPIServer holds objs, created through it (so with resourceVersions).
func newAPIServer(t *testing.T, objs ...runtime.Object) *apiServer {
	t.Helper()
	s := &apiServer{ObjectTracker: fake.NewClientset().Tracker()}
	cs := s.clientset()
	ctx := context.Background()
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.Secret:
			_, err = cs.CoreV1().Secrets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			_, err = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, o, metav1.CreateOptions{})
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			_, err = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("no test API for %T", obj)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// clientset is a new client-go fake clientset of s.
func (s *apiServer) clientset() *fake.Clientset {
	cs := fake.NewClientset()
	cs.ReactionChain, cs.WatchReactionChain = nil, nil
	cs.AddReactor("*", "*", k8stesting.ObjectReaction(s))
	cs.AddWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if w, ok := a.(k8stesting.WatchActionImpl); ok {
			opts = w.ListOptions
		}
		w, err := s.Watch(a.GetResource(), a.GetNamespace(), opts)
		return err == nil, w, err
	})
	return cs
}

// react is what s does with a, as a reactor returns it.
func (s *apiServer) react(a k8stesting.Action) (bool, runtime.Object, error) {
	return k8stesting.ObjectReaction(s)(a)
}

// stamp gives obj the next resourceVersion (s.mu held).
func (s *apiServer) stamp(obj runtime.Object) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	s.rv++
	m.SetResourceVersion(strconv.FormatInt(s.rv, 10))
	return nil
}

// check fails with Conflict if obj carries a resourceVersion other than the
// stored object's (s.mu held).
func (s *apiServer) check(gvr schema.GroupVersionResource, obj runtime.Object, ns string) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	cur, err := s.ObjectTracker.Get(gvr, ns, m.GetName())
	if err != nil {
		return err
	}
	cm, err := meta.Accessor(cur)
	if err != nil {
		return err
	}
	if rv := m.GetResourceVersion(); rv != "" && rv != cm.GetResourceVersion() {
		return apierrors.NewConflict(gvr.GroupResource(), m.GetName(), errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	}
	return nil
}

// The reactors hand the tracker their own copy of the object, so it is
// stamped in place (and a patch's result is returned as stamped).

func (s *apiServer) Create(gvr schema.GroupVersionResource, obj runtime.Object, ns string, opts ...metav1.CreateOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stamp(obj); err != nil {
		return err
	}
	return s.ObjectTracker.Create(gvr, obj, ns, opts...)
}

func (s *apiServer) Update(gvr schema.GroupVersionResource, obj runtime.Object, ns string, opts ...metav1.UpdateOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(gvr, obj, ns); err != nil {
		return err
	}
	if err := s.stamp(obj); err != nil {
		return err
	}
	return s.ObjectTracker.Update(gvr, obj, ns, opts...)
}

// Patch gets the object with the patch applied: its resourceVersion is the
// patch's if it carries one, else the one stored when it was applied.
func (s *apiServer) Patch(gvr schema.GroupVersionResource, obj runtime.Object, ns string, opts ...metav1.PatchOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(gvr, obj, ns); err != nil {
		return err
	}
	if err := s.stamp(obj); err != nil {
		return err
	}
	return s.ObjectTracker.Patch(gvr, obj, ns, opts...)
}

func newTestRotator(t *testing.T, c kubernetes.Interface, clk *clocktesting.FakeClock, l Lifetimes) *Rotator {
	t.Helper()
	r, err := newRotator(rotatorClients{
		secrets:    c.CoreV1().Secrets(testNS),
		mutating:   c.AdmissionregistrationV1().MutatingWebhookConfigurations(),
		validating: c.AdmissionregistrationV1().ValidatingWebhookConfigurations(),
	}, RotatorOptions{
		Namespace: testNS, SecretName: testSecret, ServiceName: "daemonguard", WebhookConfigurationName: testConfig,
		ExtraSANs: []string{"127.0.0.1"}, Lifetimes: l,
		CertDir: t.TempDir(), CertName: "tls.crt", KeyName: "tls.key", Clock: clk,
	}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func getSecret(t *testing.T, c kubernetes.Interface) (*corev1.Secret, *Bundle) {
	t.Helper()
	s, err := c.CoreV1().Secrets(testNS).Get(context.Background(), testSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, problems := ParseSecret(s)
	if len(problems) > 0 {
		t.Fatalf("stored Secret: %q", problems)
	}
	return s, b
}

// caBundles returns the caBundle of every webhook in our two
// configurations, and checks the one that is not ours was left alone.
func caBundles(t *testing.T, c kubernetes.Interface) [][]byte {
	t.Helper()
	ctx := context.Background()
	var out [][]byte
	m, err := c.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, testConfig, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range m.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	v, err := c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, testConfig, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range v.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	if v, err = c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "someone-else", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(v.Webhooks[0].ClientConfig.CABundle) != 0 {
		t.Error("another webhook configuration was changed")
	}
	return out
}

func servedFile(t *testing.T, r *Rotator) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.opts.CertDir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRotatorBootstrap(t *testing.T) {
	ctx := context.Background()
	var writes atomic.Int32
	api := newAPIServer(t, testConfigurations()...)
	base := api.clientset()
	c := api.clientset()
	c.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		switch a.GetVerb() {
		case "create", "update", "patch":
			writes.Add(1)
		}
		return false, nil, nil
	})
	clk := clocktesting.NewFakeClock(t0)
	r := newTestRotator(t, c, clk, testLifetimes)
	next, err := r.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, b := getSecret(t, c)
	if s.Type != corev1.SecretTypeTLS || s.Labels[ManagedByLabel] != "daemonguard" {
		t.Errorf("Secret type %q labels %v", s.Type, s.Labels)
	}
	if b.CA == nil || b.Serving == nil || len(b.Previous) != 0 || !b.CAInjectedAt.Equal(t0) {
		t.Fatalf("stored bundle incomplete: %+v", b)
	}
	if err := verify(b.Serving.Cert, t0, "daemonguard."+testNS+".svc", b.CA.Cert); err != nil {
		t.Errorf("serving certificate: %v", err)
	}
	if err := verify(b.Serving.Cert, t0, "127.0.0.1", b.CA.Cert); err != nil {
		t.Errorf("extra SAN: %v", err)
	}
	for i, cb := range caBundles(t, c) {
		if !bytes.Equal(cb, b.CABundle()) {
			t.Errorf("webhook %d caBundle not the stored CA", i)
		}
	}
	if !bytes.Equal(servedFile(t, r), b.Serving.CertPEM) {
		t.Error("certificate directory does not hold the stored certificate")
	}
	if want := RenewalTime(b.Serving.Cert, testLifetimes.RenewBefore); !next.Equal(want) {
		t.Errorf("next check %v, want %v", next, want)
	}
	// Secret create, two configuration patches, the injected-at update.
	if n := writes.Load(); n != 4 {
		t.Errorf("%d writes to bootstrap, want 4", n)
	}

	// Nothing to do: nothing written.
	writes.Store(0)
	clk.Step(time.Hour)
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 0 {
		t.Errorf("%d writes when nothing changed", n)
	}

	// Someone resets a caBundle (a helm upgrade rendering it empty): restored.
	m, err := base.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, testConfig, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.Webhooks[1].ClientConfig.CABundle = nil
	if _, err := base.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, m, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i, cb := range caBundles(t, c) {
		if !bytes.Equal(cb, b.CABundle()) {
			t.Errorf("webhook %d caBundle not restored", i)
		}
	}
}

// Two replicas start on an empty namespace; the second reads before the
// first's Secret exists and creates after it: its create fails with
// AlreadyExists and it adopts the first's certificates.
func TestRotatorLosesCreateRace(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(t0)
	api := newAPIServer(t, testConfigurations()...)
	base := api.clientset()
	a := newTestRotator(t, api.clientset(), clk, testLifetimes)
	var raced atomic.Bool
	var creates atomic.Int32
	bClient := api.clientset()
	bClient.PrependReactor("create", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if raced.CompareAndSwap(false, true) {
			// a wins between b's read and b's create.
			if _, err := a.Sync(ctx); err != nil {
				t.Error(err)
			}
		}
		_, obj, err := api.react(action)
		if err == nil {
			creates.Add(1)
		}
		return true, obj, err
	})
	b := newTestRotator(t, bClient, clk, testLifetimes)
	if _, err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !raced.Load() || creates.Load() != 0 {
		t.Fatalf("race not staged: raced %v, b created %d", raced.Load(), creates.Load())
	}
	_, stored := getSecret(t, base)
	if !bytes.Equal(servedFile(t, a), stored.Serving.CertPEM) || !bytes.Equal(servedFile(t, b), stored.Serving.CertPEM) {
		t.Error("the replicas do not both serve the stored certificate")
	}
	for i, cb := range caBundles(t, base) {
		if !bytes.Equal(cb, stored.CABundle()) {
			t.Errorf("webhook %d caBundle is not the winner's", i)
		}
	}
}

// Two replicas renew at the same moment; the second's update carries a
// stale resourceVersion, fails with Conflict, and it adopts the first's
// renewal instead of overwriting it.
func TestRotatorLosesUpdateRace(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(t0)
	api := newAPIServer(t, testConfigurations()...)
	base := api.clientset()
	a := newTestRotator(t, api.clientset(), clk, testLifetimes)
	if _, err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	_, before := getSecret(t, base)
	clk.SetTime(RenewalTime(before.Serving.Cert, testLifetimes.RenewBefore))

	var raced atomic.Bool
	var conflicts atomic.Int32
	bClient := api.clientset()
	bClient.PrependReactor("update", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if raced.CompareAndSwap(false, true) {
			if _, err := a.Sync(ctx); err != nil {
				t.Error(err)
			}
		}
		_, obj, err := api.react(action)
		if err != nil {
			conflicts.Add(1)
		}
		return true, obj, err
	})
	b := newTestRotator(t, bClient, clk, testLifetimes)
	if _, err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	_, after := getSecret(t, base)
	if after.Serving.Cert.Equal(before.Serving.Cert) {
		t.Fatal("not renewed")
	}
	if conflicts.Load() != 1 {
		t.Errorf("%d failed updates, want the one conflict", conflicts.Load())
	}
	if !bytes.Equal(servedFile(t, b), after.Serving.CertPEM) {
		t.Error("the loser does not serve the winner's certificate")
	}
	if !after.CA.Cert.Equal(before.CA.Cert) {
		t.Error("a serving renewal replaced the CA")
	}
}

// A CA rollover through the Rotator: the new CA goes into the caBundle
// beside the old, the served certificate changes only after the rollover
// delay, and the API server's view (the caBundle) always trusts it.
func TestRotatorCARollover(t *testing.T) {
	ctx := context.Background()
	l := Lifetimes{CAValidity: 100 * hour, CARenewBefore: 30 * hour, Validity: 10 * hour, RenewBefore: 4 * hour, RolloverDelay: 10 * time.Minute}
	clk := clocktesting.NewFakeClock(t0)
	c := newAPIServer(t, testConfigurations()...).clientset()
	r := newTestRotator(t, c, clk, l)
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	_, first := getSecret(t, c)
	cas := map[string]bool{}
	sawTwoCAs := false
	for clk.Now().Before(t0.Add(250 * hour)) {
		next, err := r.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, b := getSecret(t, c)
		cas[Fingerprint(b.CA.Cert)] = true
		served, err := ParseCertificates(servedFile(t, r))
		if err != nil {
			t.Fatal(err)
		}
		roots, err := ParseCertificates(caBundles(t, c)[0])
		if err != nil {
			t.Fatal(err)
		}
		sawTwoCAs = sawTwoCAs || len(roots) == 2
		if err := verify(served[0], clk.Now(), "daemonguard", roots...); err != nil {
			t.Fatalf("at +%v the served certificate is not trusted by the caBundle: %v", clk.Now().Sub(t0), err)
		}
		// Jump to the next decision point, as Start would sleep.
		clk.SetTime(next.Add(time.Second))
	}
	if len(cas) < 3 || !sawTwoCAs {
		t.Errorf("%d CAs, two CAs in the caBundle seen: %v", len(cas), sawTwoCAs)
	}
	if cas[Fingerprint(first.CA.Cert)] != true {
		t.Error("first CA not recorded")
	}
}

// The caBundle patch is the one controller-runtime's
// StrategicMergeFrom(orig, MergeFromWithOptimisticLock{}) made: a two-way
// strategic merge patch from the configuration read, without its
// resourceVersion, to the configuration with the caBundles and the
// resourceVersion read.
func TestCABundlePatch(t *testing.T) {
	bundle := []byte("-----BEGIN CERTIFICATE-----\nnew\n-----END CERTIFICATE-----\n")
	old := []byte("-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----\n")
	objs := testConfigurations()
	mutating := objs[0].(*admissionregistrationv1.MutatingWebhookConfiguration)
	mutating.ResourceVersion = "42"
	validating := objs[1].(*admissionregistrationv1.ValidatingWebhookConfiguration)
	validating.ResourceVersion = "43"
	for _, tc := range []struct {
		name     string
		obj      runtime.Object
		caBundle []byte
		before   [][]byte // the caBundles read
	}{
		{"mutating, none set", mutating, bundle, [][]byte{nil, nil}},
		{"mutating, one set", mutating, bundle, [][]byte{nil, bundle}},
		{"mutating, an old one", mutating, bundle, [][]byte{bundle, old}},
		{"mutating, all set", mutating, bundle, [][]byte{bundle, bundle}},
		{"mutating, removed", mutating, nil, [][]byte{old, nil}},
		{"validating", validating, bundle, [][]byte{old}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := tc.obj.DeepCopyObject()
			modified := tc.obj.DeepCopyObject()
			var cfg configuration
			switch r := read.(type) {
			case *admissionregistrationv1.MutatingWebhookConfiguration:
				m := modified.(*admissionregistrationv1.MutatingWebhookConfiguration)
				for i := range r.Webhooks {
					r.Webhooks[i].ClientConfig.CABundle = tc.before[i]
					m.Webhooks[i].ClientConfig.CABundle = tc.caBundle
				}
				cfg = mutatingConfiguration(r)
			case *admissionregistrationv1.ValidatingWebhookConfiguration:
				m := modified.(*admissionregistrationv1.ValidatingWebhookConfiguration)
				for i := range r.Webhooks {
					r.Webhooks[i].ClientConfig.CABundle = tc.before[i]
					m.Webhooks[i].ClientConfig.CABundle = tc.caBundle
				}
				cfg = validatingConfiguration(r)
			}
			// What controller-runtime's optimistic strategic merge patch sent.
			orig := read.DeepCopyObject()
			meta.NewAccessor().SetResourceVersion(orig, "")
			origJSON, err := json.Marshal(orig)
			if err != nil {
				t.Fatal(err)
			}
			modJSON, err := json.Marshal(modified)
			if err != nil {
				t.Fatal(err)
			}
			want, err := strategicpatch.CreateTwoWayMergePatch(origJSON, modJSON, modified)
			if err != nil {
				t.Fatal(err)
			}
			got, err := caBundlePatch(cfg, tc.caBundle)
			if err != nil {
				t.Fatal(err)
			}
			if changed := slices.ContainsFunc(tc.before, func(b []byte) bool { return !bytes.Equal(b, tc.caBundle) }); !changed {
				// Nothing to write: no patch (not one of the resourceVersion only).
				want = nil
			}
			if !bytes.Equal(got, want) {
				t.Errorf("patch\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// Someone changes a webhook configuration between the Rotator's read and
// its caBundle patch: the patch carries the resourceVersion read and fails
// with Conflict, and the Rotator re-reads and patches the new version,
// keeping the other change.
func TestRotatorPatchConflict(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(t0)
	api := newAPIServer(t, testConfigurations()...)
	admin := api.clientset()
	var raced atomic.Bool
	var patches, conflicts atomic.Int32
	c := api.clientset()
	c.PrependReactor("patch", "mutatingwebhookconfigurations", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if raced.CompareAndSwap(false, true) {
			m, err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, testConfig, metav1.GetOptions{})
			if err != nil {
				t.Error(err)
			}
			m.Labels = map[string]string{"changed": "meanwhile"}
			if _, err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, m, metav1.UpdateOptions{}); err != nil {
				t.Error(err)
			}
		}
		if p := action.(k8stesting.PatchAction); p.GetPatchType() != types.StrategicMergePatchType {
			t.Errorf("a %s patch", p.GetPatchType())
		}
		_, obj, err := api.react(action)
		patches.Add(1)
		if apierrors.IsConflict(err) {
			conflicts.Add(1)
		}
		return true, obj, err
	})
	r := newTestRotator(t, c, clk, testLifetimes)
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if patches.Load() != 2 || conflicts.Load() != 1 {
		t.Errorf("%d patches of the MutatingWebhookConfiguration, %d conflicts; want 2 and the one conflict", patches.Load(), conflicts.Load())
	}
	_, b := getSecret(t, admin)
	for i, cb := range caBundles(t, admin) {
		if !bytes.Equal(cb, b.CABundle()) {
			t.Errorf("webhook %d caBundle not the stored CA", i)
		}
	}
	m, err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, testConfig, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Labels["changed"] != "meanwhile" {
		t.Error("the patch lost the other writer's change")
	}
}

// Start watches its Secret and webhook configurations: with a clock that
// never fires, a reset caBundle and a deleted Secret are restored at once,
// and stopping stops the informers too.
func TestRotatorWatches(t *testing.T) {
	// The fake lists and watches; it cannot stream a list through a watch
	// (which a fake clientset tells its own informers, not these).
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, false)
	clk := clocktesting.NewFakeClock(t0)
	api := newAPIServer(t, testConfigurations()...)
	admin := api.clientset()
	c := api.clientset()
	var lists, watches sync.Map
	c.PrependReactor("list", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		lists.Store(a.GetResource().Resource+"/"+a.GetNamespace(), a.(k8stesting.ListAction).GetListRestrictions().Fields.String())
		return false, nil, nil
	})
	c.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		watches.Store(a.GetResource().Resource+"/"+a.GetNamespace(), a.(k8stesting.WatchAction).GetWatchRestrictions().Fields.String())
		return false, nil, nil
	})
	r := newTestRotator(t, c, clk, testLifetimes)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Start(ctx) }()
	defer func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Start did not return")
		}
	}()
	until := func(what string, f func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !f(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 10s", what)
			}
		}
	}
	stored := func() *Bundle {
		s, err := admin.CoreV1().Secrets(testNS).Get(context.Background(), testSecret, metav1.GetOptions{})
		if err != nil {
			return nil
		}
		b, _ := ParseSecret(s)
		return b
	}
	injected := func() bool {
		b := stored()
		if b == nil || b.CA == nil {
			return false
		}
		for _, cb := range caBundles(t, admin) {
			if !bytes.Equal(cb, b.CABundle()) {
				return false
			}
		}
		return true
	}
	until("bootstrap", injected)
	for _, want := range []string{"secrets/" + testNS, "mutatingwebhookconfigurations/", "validatingwebhookconfigurations/"} {
		until("list and watch of "+want, func() bool {
			_, listed := lists.Load(want)
			_, watched := watches.Load(want)
			return listed && watched
		})
	}
	for what, m := range map[string]*sync.Map{"list": &lists, "watch": &watches} {
		m.Range(func(k, v any) bool {
			name := testConfig
			if k == "secrets/"+testNS {
				name = testSecret
			}
			if v != "metadata.name="+name {
				t.Errorf("%s of %s with field selector %q, want metadata.name=%s", what, k, v, name)
			}
			return true
		})
	}

	// A caBundle reset (a helm upgrade rendering it empty): restored.
	v, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, testConfig, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v.Webhooks[0].ClientConfig.CABundle = nil
	if _, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	until("caBundle restored", injected)

	// The Secret deleted: a new CA, injected.
	first := stored()
	if err := admin.CoreV1().Secrets(testNS).Delete(ctx, testSecret, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	until("Secret recreated", func() bool {
		b := stored()
		return b != nil && b.CA != nil && !b.CA.Cert.Equal(first.CA.Cert) && injected()
	})
}

// Without list and watch permission the informers never sync; the Rotator
// polls, and the refusals are logged through its logger.
func TestRotatorLogsWatchErrors(t *testing.T) {
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, false)
	clk := clocktesting.NewFakeClock(t0)
	api := newAPIServer(t, testConfigurations()...)
	c := api.clientset()
	c.PrependReactor("list", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(a.GetResource().GroupResource(), "", errors.New("no list"))
	})
	var mu sync.Mutex
	var logged []string
	r := newTestRotator(t, c, clk, testLifetimes)
	r.log = funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, prefix+" "+args)
	}, funcr.Options{})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Start(ctx) }()
	found := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range logged {
			if strings.Contains(l, "Failed to watch") && strings.Contains(l, "no list") {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(10 * time.Second); !found(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("the refused list was not logged through the Rotator's logger: %q", logged)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, err := c.CoreV1().Secrets(testNS).Get(ctx, testSecret, metav1.GetOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Secret without the informers: %v", err)
		}
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Start did not return")
	}
}
