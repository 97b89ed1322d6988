package reports

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-logr/logr"
	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/daemonguard/daemonguard/internal/kube"
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
// date. It runs on the leader only (serve elects one) and starts
// its own informers when it becomes leader, so other replicas hold no
// DaemonSet cache: they only serve admission.
type Reporter struct {
	cfg  *rest.Config
	opts Options

	queue        workqueue.TypedRateLimitingInterface[string]
	queueMetrics *queueMetrics
	limiter      *rate.Limiter
	// clients writes Reports; the informers' indexers (by namespace) are
	// what the Reporter reads.
	clients    *kube.Clientset
	daemonSets toolscache.Indexer
	reports    toolscache.Indexer

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

// Start waits for the Report CRD, then reconciles until ctx ends. Problems
// are logged and retried, never returned: admission must keep serving on
// this replica whatever happens to reports.
func (r *Reporter) Start(ctx context.Context) error {
	log := r.opts.Log
	var err error
	if r.clients, err = kube.NewForConfig(r.cfg); err != nil {
		return fmt.Errorf("reports: creating client: %w", err)
	}
	if err := r.waitForCRD(ctx); err != nil {
		return nil // ctx ended
	}
	managed, err := labels.Parse(ManagedByLabel + "=" + managedBy)
	if err != nil {
		return err
	}
	dsInformer := kube.NewInformer(r.clients.DaemonSets(""), &appsv1.DaemonSet{}, nil)
	// Only daemonguard's own Reports: other tools' (Kyverno's) can be many
	// and large.
	reportInformer := kube.NewInformer(r.clients.Reports(""), &openreportsv1alpha1.Report{}, func(o *metav1.ListOptions) {
		o.LabelSelector = managed.String()
	})
	for _, inf := range []toolscache.SharedIndexInformer{dsInformer, reportInformer} {
		if err := inf.SetTransform(stripManagedFields); err != nil {
			return err
		}
	}
	r.daemonSets, r.reports = dsInformer.GetIndexer(), reportInformer.GetIndexer()
	r.queue = r.newQueue()
	defer r.queue.ShutDown()

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
	var informers sync.WaitGroup
	for _, inf := range []toolscache.SharedIndexInformer{dsInformer, reportInformer} {
		informers.Go(func() { inf.RunWithContext(ctx) })
	}
	defer informers.Wait()
	if !toolscache.WaitForCacheSync(ctx.Done(), dsInformer.HasSynced, reportInformer.HasSynced) {
		return nil
	}
	log.Info("reporting on DaemonSets")

	r.evaluated = r.opts.Policy()
	r.enqueueAll()
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
	resync := time.NewTicker(resyncPeriod())
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			r.queue.ShutDown()
			wg.Wait()
			return nil
		case <-resync.C:
			r.resync()
		case now := <-t.C:
			if p := r.opts.Policy(); p != r.evaluated {
				r.evaluated = p
				log.Info("policy changed; evaluating every DaemonSet again")
				r.enqueueAll()
			}
			r.noteSynced(now)
		}
	}
}

// resyncPeriod is how often the Reporter looks at every Report again: what
// controller-runtime's cache resynced its informers at (10 hours, give or
// take 10% so that informers do not move in step). kube's informers do not
// resync; resync does what such a resync caused.
func resyncPeriod() time.Duration {
	return time.Duration(float64(10*time.Hour) * (0.9 + rand.Float64()/5))
}

// resync queues what a resync of the informers queued: each cached object
// comes again as an update to itself, which the DaemonSets' handler drops
// (nothing changed) and the Reports' queues unless it is this Reporter's
// last write, so a namespace whose Report it did not write since it became
// leader is evaluated again.
func (r *Reporter) resync() {
	for _, obj := range r.reports.List() {
		if !r.ownWrite(obj) {
			r.enqueue(obj)
		}
	}
}

// waitForCRD polls discovery until the Report resource is served.
func (r *Reporter) waitForCRD(ctx context.Context) error {
	logged := false
	for {
		// A Discovery per poll: it keeps a group version's list once served,
		// and the group may be served (ClusterReports) before Reports are.
		list, err := kube.NewDiscovery(r.clients).Resources(ctx, openreportsv1alpha1.SchemeGroupVersion)
		if ctx.Err() != nil {
			return ctx.Err()
		}
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
	if o, ok := obj.(metav1.Object); ok {
		r.queue.Add(o.GetNamespace())
	}
}

// enqueueAll queues every namespace with a DaemonSet or a Report.
func (r *Reporter) enqueueAll() {
	for _, idx := range []toolscache.Indexer{r.daemonSets, r.reports} {
		for _, obj := range idx.List() {
			r.enqueue(obj)
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
	// The informers' objects are shared: read, never written (Evaluate
	// and the update below work on copies).
	dss, err := indexed[*appsv1.DaemonSet](r.daemonSets, namespace)
	if err != nil {
		return err
	}
	current, err := r.currentReport(namespace)
	if err != nil {
		return err
	}
	client := r.clients.Reports(namespace)
	if len(dss) == 0 {
		r.setCounts(namespace, nil)
		if current == nil {
			return nil
		}
		uid := current.UID
		if err := r.write(ctx, func() error {
			return client.Delete(ctx, current.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return nil
	}
	var results []openreportsv1alpha1.ReportResult
	counts := map[ruleAction]int{}
	for _, ds := range dss {
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
		var created *openreportsv1alpha1.Report
		err := r.write(ctx, func() (err error) {
			created, err = client.Create(ctx, desired, metav1.CreateOptions{})
			return err
		})
		if apierrors.IsAlreadyExists(err) {
			return errors.New("report created meanwhile; retrying") // the cache catches up
		}
		r.remember(created, err)
		return err
	}
	// Keep what others set on the object (annotations, other labels).
	updated := current.DeepCopy()
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	updated.Labels[ManagedByLabel] = managedBy
	updated.Source, updated.Summary, updated.Configuration, updated.Results = desired.Source, desired.Summary, desired.Configuration, desired.Results
	err = r.write(ctx, func() (err error) {
		updated, err = client.Update(ctx, updated, metav1.UpdateOptions{})
		return err
	})
	r.remember(updated, err)
	return err
}

// indexed returns the objects of namespace in an informer's indexer.
func indexed[T runtime.Object](idx toolscache.Indexer, namespace string) ([]T, error) {
	objs, err := idx.ByIndex(toolscache.NamespaceIndex, namespace)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		t, ok := o.(T)
		if !ok {
			return nil, fmt.Errorf("reports: %T in the cache, want %T", o, t)
		}
		out = append(out, t)
	}
	return out, nil
}

// currentReport is namespace's Report in the cache, nil when there is none.
func (r *Reporter) currentReport(namespace string) (*openreportsv1alpha1.Report, error) {
	obj, ok, err := r.reports.GetByKey(namespace + "/" + ReportName)
	if err != nil || !ok {
		return nil, err
	}
	rep, ok := obj.(*openreportsv1alpha1.Report)
	if !ok {
		return nil, fmt.Errorf("reports: %T in the cache, want a Report", obj)
	}
	return rep, nil
}

// stripManagedFields drops managedFields from what the informers keep, as
// controller-runtime's cache.TransformStripManagedFields did: the Reporter
// never reads them, and they are a large part of every object.
func stripManagedFields(in any) (any, error) {
	// Only when set: https://github.com/kubernetes/kubernetes/issues/124337
	if obj, err := meta.Accessor(in); err == nil && obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	return in, nil
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
