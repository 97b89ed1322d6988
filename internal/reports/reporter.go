package reports

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/go-logr/logr"
	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/internal/policy"
)

// Options configure a Reporter.
type Options struct {
	// Policy returns the policy in force; a new pointer means the policy
	// was reloaded, and every namespace is evaluated again.
	Policy func() *policy.Policy
	// WritesPerSecond and Burst bound the Reporter's writes (creates,
	// updates, deletes of Reports) together; defaults 5 and 10.
	WritesPerSecond float64
	Burst           int
	// MaxResults bounds the results of one Report (DefaultMaxResults).
	MaxResults int
	// PolicyPollInterval is how often Policy is compared with the last one
	// evaluated (default 1s: an atomic load).
	PolicyPollInterval time.Duration
	// Metrics receives the findings gauge; nil records nothing.
	Metrics *Metrics
	// QueueMetrics receives the work queue's metrics,
	// workqueue_*{name="daemonguard-reports"} (controller-runtime's names,
	// help, labels and buckets); nil registers them nowhere.
	QueueMetrics prometheus.Registerer
	Log          logr.Logger
}

// Reporter keeps one OpenReports Report per namespace with DaemonSets up to
// date. It runs on the leader only (NeedLeaderElection is true) and starts
// its own informers when it becomes leader, so other replicas hold no
// DaemonSet cache: they only serve admission.
type Reporter struct {
	cfg  *rest.Config
	opts Options

	queue        workqueue.TypedRateLimitingInterface[string]
	queueMetrics *queueMetrics
	limiter      *rate.Limiter
	cache        cache.Cache
	client       client.Client

	mu         sync.Mutex
	counts     map[string]map[ruleAction]int // namespace -> DaemonSets with findings
	writes     int
	reconciles int
	evaluated  *policy.Policy
	// inFlight counts namespaces being reconciled; failing holds those
	// whose last reconcile failed: the Reports are current only when both
	// are empty and nothing is queued.
	inFlight int
	failing  map[string]bool
	// wrote is the resourceVersion of the Report last written per
	// namespace: its own write coming back through the watch is not a
	// change to put right.
	wrote map[string]string
}

type ruleAction struct{ rule, action string }

// NewReporter returns a Reporter for the cluster at cfg.
func NewReporter(cfg *rest.Config, opts Options) *Reporter {
	if opts.WritesPerSecond <= 0 {
		opts.WritesPerSecond = 5
	}
	if opts.Burst <= 0 {
		opts.Burst = 10
	}
	if opts.PolicyPollInterval <= 0 {
		opts.PolicyPollInterval = time.Second
	}
	r := &Reporter{
		cfg: cfg, opts: opts,
		queueMetrics: newQueueMetrics(),
		limiter:      rate.NewLimiter(rate.Limit(opts.WritesPerSecond), opts.Burst),
		counts:       map[string]map[ruleAction]int{},
		failing:      map[string]bool{},
	}
	if opts.QueueMetrics != nil {
		if err := r.queueMetrics.register(opts.QueueMetrics); err != nil {
			opts.Log.Error(err, "the reports queue's metrics are not exported")
		}
	}
	return r
}

// queueName names the Reporter's queue in its metrics.
const queueName = "daemonguard-reports"

// newQueue returns the Reporter's work queue: namespaces to evaluate,
// retried with client-go's controller rate limiter.
func (r *Reporter) newQueue() workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: queueName, MetricsProvider: r.queueMetrics})
}

// NeedLeaderElection is true: one replica writes Reports.
func (r *Reporter) NeedLeaderElection() bool { return true }

// Writes is how many writes the Reporter has sent (for tests and logs).
func (r *Reporter) Writes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes
}

// Reconciles is how many namespace evaluations the Reporter has finished.
func (r *Reporter) Reconciles() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reconciles
}

// Scheme is what the Reporter reads and writes.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := appsv1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := openreportsv1alpha1.Install(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Start waits for the Report CRD, then reconciles until ctx ends. Problems
// are logged and retried, never returned: admission must keep serving on
// this replica whatever happens to reports.
func (r *Reporter) Start(ctx context.Context) error {
	log := r.opts.Log
	if err := r.waitForCRD(ctx); err != nil {
		return nil // ctx ended
	}
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	managed, err := labels.Parse(ManagedByLabel + "=" + managedBy)
	if err != nil {
		return err
	}
	r.cache, err = cache.New(r.cfg, cache.Options{
		Scheme: scheme,
		ByObject: map[client.Object]cache.ByObject{
			// Only daemonguard's own Reports: other tools' (Kyverno's) can be
			// many and large.
			&openreportsv1alpha1.Report{}: {Label: managed},
		},
		DefaultTransform: cache.TransformStripManagedFields(),
	})
	if err != nil {
		return fmt.Errorf("reports: creating cache: %w", err)
	}
	if r.client, err = client.New(r.cfg, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("reports: creating client: %w", err)
	}
	r.queue = r.newQueue()
	defer r.queue.ShutDown()

	dsInformer, err := r.cache.GetInformer(ctx, &appsv1.DaemonSet{})
	if err != nil {
		return fmt.Errorf("reports: watching DaemonSets: %w", err)
	}
	reportInformer, err := r.cache.GetInformer(ctx, &openreportsv1alpha1.Report{})
	if err != nil {
		return fmt.Errorf("reports: watching Reports: %w", err)
	}
	if _, err := dsInformer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: r.enqueue,
		UpdateFunc: func(oldObj, newObj any) {
			// Status-only updates (every pod change) cannot change a verdict.
			o, ok1 := oldObj.(*appsv1.DaemonSet)
			n, ok2 := newObj.(*appsv1.DaemonSet)
			if ok1 && ok2 && o.Generation == n.Generation && maps.Equal(o.Labels, n.Labels) && maps.Equal(o.Annotations, n.Annotations) {
				return
			}
			r.enqueue(newObj)
		},
		DeleteFunc: r.enqueue,
	}); err != nil {
		return err
	}
	if _, err := reportInformer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		// A Report edited or deleted by someone else is put right.
		UpdateFunc: func(_, newObj any) {
			if !r.ownWrite(newObj) {
				r.enqueue(newObj)
			}
		},
		DeleteFunc: r.enqueue,
	}); err != nil {
		return err
	}
	cacheDone := make(chan struct{})
	go func() {
		defer close(cacheDone)
		if err := r.cache.Start(ctx); err != nil {
			log.Error(err, "reports cache stopped")
		}
	}()
	defer func() { <-cacheDone }()
	if !r.cache.WaitForCacheSync(ctx) {
		return nil
	}
	log.Info("reporting on DaemonSets")

	r.evaluated = r.opts.Policy()
	r.enqueueAll(ctx)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r.processNext(ctx) {
			}
		}()
	}
	t := time.NewTicker(r.opts.PolicyPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.queue.ShutDown()
			wg.Wait()
			return nil
		case now := <-t.C:
			if p := r.opts.Policy(); p != r.evaluated {
				r.evaluated = p
				log.Info("policy changed; evaluating every DaemonSet again")
				r.enqueueAll(ctx)
			}
			r.noteSynced(now)
		}
	}
}

// waitForCRD polls discovery until the Report resource is served.
func (r *Reporter) waitForCRD(ctx context.Context) error {
	dc, err := discovery.NewDiscoveryClientForConfig(r.cfg)
	if err != nil {
		return err
	}
	logged := false
	for {
		list, err := dc.ServerResourcesForGroupVersion(openreportsv1alpha1.GroupVersion.String())
		if err == nil {
			for _, res := range list.APIResources {
				if res.Name == "reports" {
					return nil
				}
			}
		}
		if !logged {
			r.opts.Log.Info("the openreports.io/v1alpha1 Report CRD is not installed; reports start once it is", "error", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
		}
	}
}

func (r *Reporter) enqueue(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if o, ok := obj.(client.Object); ok {
		r.queue.Add(o.GetNamespace())
	}
}

// enqueueAll queues every namespace with a DaemonSet or a Report.
func (r *Reporter) enqueueAll(ctx context.Context) {
	var dss appsv1.DaemonSetList
	if err := r.cache.List(ctx, &dss); err == nil {
		for i := range dss.Items {
			r.queue.Add(dss.Items[i].Namespace)
		}
	}
	var reps openreportsv1alpha1.ReportList
	if err := r.cache.List(ctx, &reps); err == nil {
		for i := range reps.Items {
			r.queue.Add(reps.Items[i].Namespace)
		}
	}
}

func (r *Reporter) processNext(ctx context.Context) bool {
	ns, shutdown := r.queue.Get()
	if shutdown {
		return false
	}
	defer r.queue.Done(ns)
	r.started()
	err := r.reconcile(ctx, ns)
	r.finished(ns, err)
	if err != nil {
		if ctx.Err() == nil && !apierrors.IsConflict(err) {
			r.opts.Log.Error(err, "updating report", "namespace", ns)
		}
		r.queue.AddRateLimited(ns)
		return true
	}
	r.queue.Forget(ns)
	return true
}

func (r *Reporter) started() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight++
}

func (r *Reporter) finished(ns string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight--
	if err != nil {
		r.failing[ns] = true
		return
	}
	delete(r.failing, ns)
	r.reconciles++
}

// noteSynced advances the sync time when the Reports are current: a
// namespace waiting out a retry backoff is not in the queue, so failures
// are tracked apart. (One taken from the queue an instant before started()
// may pass for current for one tick: staleness is judged in minutes.)
func (r *Reporter) noteSynced(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.queue.Len() == 0 && r.inFlight == 0 && len(r.failing) == 0 {
		r.opts.Metrics.syncedAt(now)
	}
}

// reconcile brings namespace's Report in line with its DaemonSets and the
// policy in force, writing only when something changed.
func (r *Reporter) reconcile(ctx context.Context, namespace string) error {
	p := r.opts.Policy()
	var dss appsv1.DaemonSetList
	if err := r.cache.List(ctx, &dss, client.InNamespace(namespace)); err != nil {
		return err
	}
	current := &openreportsv1alpha1.Report{}
	err := r.cache.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ReportName}, current)
	switch {
	case apierrors.IsNotFound(err):
		current = nil
	case err != nil:
		return err
	}
	if len(dss.Items) == 0 {
		r.setCounts(namespace, nil)
		if current == nil {
			return nil
		}
		if err := r.write(ctx, func() error { return r.client.Delete(ctx, current, client.Preconditions{UID: &current.UID}) }); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return nil
	}
	var results []openreportsv1alpha1.ReportResult
	counts := map[ruleAction]int{}
	for i := range dss.Items {
		ds := &dss.Items[i]
		if ds.DeletionTimestamp != nil {
			continue
		}
		ev, err := Evaluate(ctx, p, ds)
		if err != nil {
			return err
		}
		results = append(results, Results(ev)...)
		seen := map[ruleAction]bool{}
		for _, v := range ev.Violations {
			seen[ruleAction{v.Rule, v.Action}] = true
		}
		for k := range seen {
			counts[k]++
		}
	}
	r.setCounts(namespace, counts)
	desired := Build(namespace, results, current, metav1.Timestamp{Seconds: time.Now().Unix()}, r.opts.MaxResults)
	if Same(current, desired) {
		return nil
	}
	if current == nil {
		err := r.write(ctx, func() error { return r.client.Create(ctx, desired) })
		if apierrors.IsAlreadyExists(err) {
			return errors.New("report created meanwhile; retrying") // the cache catches up
		}
		r.remember(desired, err)
		return err
	}
	// Keep what others set on the object (annotations, other labels).
	updated := current.DeepCopy()
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	updated.Labels[ManagedByLabel] = managedBy
	updated.Source, updated.Summary, updated.Configuration, updated.Results = desired.Source, desired.Summary, desired.Configuration, desired.Results
	err = r.write(ctx, func() error { return r.client.Update(ctx, updated) })
	r.remember(updated, err)
	return err
}

// remember notes the resourceVersion of a Report this Reporter wrote.
func (r *Reporter) remember(written *openreportsv1alpha1.Report, err error) {
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wrote == nil {
		r.wrote = map[string]string{}
	}
	r.wrote[written.Namespace] = written.ResourceVersion
}

// ownWrite reports whether a Report event is this Reporter's last write to
// that namespace coming back: the namespace was just reconciled, and
// evaluating it again would cost as much as the write, for nothing.
func (r *Reporter) ownWrite(obj any) bool {
	rep, ok := obj.(*openreportsv1alpha1.Report)
	if !ok {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return rep.ResourceVersion != "" && r.wrote[rep.Namespace] == rep.ResourceVersion
}

// write sends one write when the rate limiter allows it.
func (r *Reporter) write(ctx context.Context, do func() error) error {
	if err := r.limiter.Wait(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	r.writes++
	r.mu.Unlock()
	return do()
}

// setCounts records namespace's DaemonSets with findings and updates the
// gauge from every namespace's counts.
func (r *Reporter) setCounts(namespace string, counts map[ruleAction]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(counts) == 0 {
		delete(r.counts, namespace)
	} else {
		r.counts[namespace] = counts
	}
	if r.opts.Metrics == nil {
		return
	}
	total := map[ruleAction]int{}
	for _, c := range r.counts {
		for k, n := range c {
			total[k] += n
		}
	}
	r.opts.Metrics.set(total)
}
