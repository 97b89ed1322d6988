package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/daemonguard/daemonguard/internal/policy"
)

// ReasonDaemonSetDenied is the reason of the Event on the owner of a denied
// DaemonSet.
const ReasonDaemonSetDenied = "DaemonSetDenied"

// OwnerEventsOptions tune the Events on the owners of denied DaemonSets;
// zero fields take the defaults below.
type OwnerEventsOptions struct {
	// Enabled turns the Events on (serve --owner-events).
	Enabled bool
	// QueueSize bounds the denials waiting to be recorded; past it they are
	// dropped and counted, never waited for (default 256).
	QueueSize int
	// Interval is the least time between two writes of one Event: a denial
	// that follows within it is only counted, and the count written at the
	// next one (default 10s).
	Interval time.Duration
	// WritesPerSecond bounds all the recorder's writes together, whatever
	// the number of owners (default 5, burst 10).
	WritesPerSecond float64
	// MaxOwners bounds the Events tracked at once (default 2048); a denial
	// for one more is dropped and counted.
	MaxOwners int
	// Idle is how long an Event is tracked after its last denial (default
	// 50m, under the API server's default Event TTL of an hour); a denial
	// after that starts a new Event.
	Idle time.Duration
	// Instance names this replica in the Events' source (the pod's name).
	Instance string
}

func (o OwnerEventsOptions) withDefaults() OwnerEventsOptions {
	if o.QueueSize <= 0 {
		o.QueueSize = 256
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.WritesPerSecond <= 0 {
		o.WritesPerSecond = 5
	}
	if o.MaxOwners <= 0 {
		o.MaxOwners = 2048
	}
	if o.Idle <= 0 {
		o.Idle = 50 * time.Minute
	}
	return o
}

// ScopeLookup reports whether objects of a kind are namespaced (from the
// API server's discovery).
type ScopeLookup func(gk schema.GroupKind, version string) (namespaced bool, err error)

// eventWriter writes core/v1 Events in one namespace: kube's typed client
// (client-go's fake in tests).
type eventWriter interface {
	Create(ctx context.Context, ev *corev1.Event, opts metav1.CreateOptions) (*corev1.Event, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*corev1.Event, error)
}

// denial is one denied DaemonSet with an owner, as the handler saw it.
type denial struct {
	namespace string
	ds        *appsv1.DaemonSet
	verdict   *policy.Verdict
	owner     metav1.OwnerReference
	at        time.Time
}

// ownerEvents records a Kubernetes Event on the owner of each denied
// DaemonSet (the controller owner, else the first), so that a denial an
// operator's reconcile loop receives reaches a person: `kubectl describe`
// on the operator's resource shows the rules, the fields, the fix and the
// admin's way out. The 422 alone lands in the operator's log.
//
// The admission response never waits for it: the handler hands the denial
// over a bounded queue and drops it (counted) when the queue is full. One
// goroutine owns the state. Denials of one owner, DaemonSet and set of
// rules are one Event whose count and lastTimestamp follow them, written at
// most once per Interval (an operator retrying every second makes one
// Event and a write every Interval, not a stream), and every write of the
// recorder shares one rate limit.
type ownerEvents struct {
	opts    OwnerEventsOptions
	queue   chan denial
	writer  func(namespace string) eventWriter
	scope   ScopeLookup
	limiter *rate.Limiter
	metrics *Metrics
	log     logr.Logger
	now     func() time.Time
	// events is owned by Start's goroutine.
	events map[string]*ownerEvent
}

// ownerEvent is one Event being kept.
type ownerEvent struct {
	event *corev1.Event
	// count is how many denials it stands for; written is what the API
	// server holds (0: not created yet).
	count, written int32
	last, wrote    time.Time
}

func newOwnerEvents(opts OwnerEventsOptions, writer func(namespace string) eventWriter, scope ScopeLookup, m *Metrics, log logr.Logger) *ownerEvents {
	opts = opts.withDefaults()
	return &ownerEvents{
		opts: opts, queue: make(chan denial, opts.QueueSize), writer: writer, scope: scope,
		limiter: rate.NewLimiter(rate.Limit(opts.WritesPerSecond), 2*int(max(1, opts.WritesPerSecond))),
		metrics: m, log: log, now: time.Now, events: map[string]*ownerEvent{},
	}
}

// owner is the reference an Event about ds goes on: the controller owner,
// else the first; false without owners.
func owner(ds *appsv1.DaemonSet) (metav1.OwnerReference, bool) {
	refs := ds.OwnerReferences
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return r, true
		}
	}
	if len(refs) > 0 {
		return refs[0], true
	}
	return metav1.OwnerReference{}, false
}

// denied hands a denial over without blocking; it is called after the
// response is written. ds and v are not changed afterwards.
func (r *ownerEvents) denied(namespace string, ds *appsv1.DaemonSet, v *policy.Verdict) {
	o, ok := owner(ds)
	if !ok {
		return
	}
	r.metrics.ownedDenial(o)
	select {
	case r.queue <- denial{namespace: namespace, ds: ds, verdict: v, owner: o, at: r.now()}:
	default:
		r.metrics.ownerEvent("dropped")
	}
}

// Start records denials until ctx ends.
func (r *ownerEvents) Start(ctx context.Context) error {
	t := time.NewTicker(max(r.opts.Interval/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case d := <-r.queue:
			r.observe(ctx, d)
		case <-t.C:
			r.flush(ctx)
		}
	}
}

// observe counts d into its Event, creating it at once if it is new.
func (r *ownerEvents) observe(ctx context.Context, d denial) {
	rules := d.verdict.DeniedRules()
	key := string(d.owner.UID) + "/" + d.owner.Kind + "/" + d.owner.Name + "/" + d.ds.Name + "/" + strings.Join(rules, ",")
	e, ok := r.events[key]
	if !ok {
		if len(r.events) >= r.opts.MaxOwners {
			r.expire()
		}
		if len(r.events) >= r.opts.MaxOwners {
			r.metrics.ownerEvent("dropped")
			return
		}
		ev, why := r.newEvent(d, rules)
		if ev == nil {
			r.log.V(1).Info("no event for the owner of a denied DaemonSet", "namespace", d.namespace, "name", d.ds.Name,
				"ownerKind", d.owner.Kind, "owner", d.owner.Name, "reason", why)
			r.metrics.ownerEvent("skipped")
			return
		}
		e = &ownerEvent{event: ev}
		r.events[key] = e
	}
	e.count++
	e.last = d.at
	e.event.Message = eventMessage(d, e.event.InvolvedObject.Kind)
	if e.written == 0 || r.now().Sub(e.wrote) >= r.opts.Interval {
		r.write(ctx, e)
	}
}

// flush writes the counts that changed since their Event's last write, once
// Interval has passed, and forgets idle Events.
func (r *ownerEvents) flush(ctx context.Context) {
	now := r.now()
	for _, e := range r.events {
		if e.count != e.written && now.Sub(e.wrote) >= r.opts.Interval {
			r.write(ctx, e)
		}
	}
	r.expire()
}

func (r *ownerEvents) expire() {
	now := r.now()
	for k, e := range r.events {
		if e.count == e.written && now.Sub(e.last) >= r.opts.Idle {
			delete(r.events, k)
		}
	}
}

// write creates e's Event, or patches its count, lastTimestamp and message.
// Without a token of the shared limit it waits for a later flush.
func (r *ownerEvents) write(ctx context.Context, e *ownerEvent) {
	if !r.limiter.Allow() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	count, last := e.count, metav1.NewTime(e.last)
	e.wrote = r.now()
	if e.written > 0 {
		patch, err := json.Marshal(map[string]any{"count": count, "lastTimestamp": last, "message": e.event.Message})
		if err != nil {
			return
		}
		_, err = r.writer(e.event.Namespace).Patch(ctx, e.event.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		switch {
		case err == nil:
			e.written = count
			r.metrics.ownerEvent("updated")
			return
		case !apierrors.IsNotFound(err):
			r.failed(e, err)
			return
		}
		// Deleted (its TTL, or someone): created again with the count.
	}
	ev := e.event.DeepCopy()
	ev.Name = eventName(ev, r.now())
	ev.ResourceVersion = ""
	ev.Count, ev.LastTimestamp = count, last
	if ev.FirstTimestamp.IsZero() {
		ev.FirstTimestamp = last
	}
	if _, err := r.writer(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		r.failed(e, err)
		return
	}
	e.event.Name, e.event.FirstTimestamp = ev.Name, ev.FirstTimestamp
	e.written = count
	r.metrics.ownerEvent("created")
}

// eventName is client-go's Event name (the object's name and the time),
// with a hash of what the Event is about between them: one owner's Events
// about several DaemonSets are created in the same instant. Long owner
// names are cut to keep it a valid name.
func eventName(ev *corev1.Event, now time.Time) string {
	h := fnv.New32a()
	h.Write([]byte(ev.Related.Name + "/" + ev.Message))
	name := ev.InvolvedObject.Name
	if len(name) > 200 {
		name = strings.TrimRight(name[:200], ".-")
	}
	return fmt.Sprintf("%s.%08x.%x", name, h.Sum32(), now.UnixNano())
}

func (r *ownerEvents) failed(e *ownerEvent, err error) {
	r.metrics.ownerEvent("failed")
	msg := "recording an event on the owner of a denied DaemonSet"
	if apierrors.IsForbidden(err) {
		msg += " (the chart's RBAC grants create and patch on events; an older chart does not)"
	}
	r.log.Error(err, msg, "namespace", e.event.Namespace, "ownerKind", e.event.InvolvedObject.Kind, "owner", e.event.InvolvedObject.Name)
}

// newEvent is the Event for d's owner, or nil and why there is none. A
// namespaced owner is in the DaemonSet's namespace (an owner reference
// cannot cross namespaces); a cluster-scoped one (an operator's cluster
// policy) gets its Event in default, where Events about cluster-scoped
// objects live. An owner whose kind the API server does not serve gets
// none: the reference is broken, and the garbage collector deletes the
// DaemonSet's dependents of such owners anyway.
func (r *ownerEvents) newEvent(d denial, rules []string) (*corev1.Event, string) {
	gv, err := schema.ParseGroupVersion(d.owner.APIVersion)
	if err != nil {
		return nil, fmt.Sprintf("owner apiVersion %q: %v", d.owner.APIVersion, err)
	}
	namespaced, err := r.scope(schema.GroupKind{Group: gv.Group, Kind: d.owner.Kind}, gv.Version)
	if err != nil {
		return nil, fmt.Sprintf("the API server does not serve the owner's kind %s: %v", d.owner.Kind, err)
	}
	ref := corev1.ObjectReference{APIVersion: d.owner.APIVersion, Kind: d.owner.Kind, Name: d.owner.Name, UID: d.owner.UID}
	ns := metav1.NamespaceDefault
	if namespaced {
		ref.Namespace, ns = d.namespace, d.namespace
	}
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns},
		InvolvedObject: ref,
		Related:        &corev1.ObjectReference{APIVersion: "apps/v1", Kind: "DaemonSet", Namespace: d.namespace, Name: d.ds.Name, UID: d.ds.UID},
		Reason:         ReasonDaemonSetDenied,
		Type:           corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "daemonguard", Host: r.opts.Instance},
	}, ""
}

// maxEventMessage bounds an Event's message: the findings give way first,
// the rules and the admin's way out are always there.
const maxEventMessage = 4096

// eventMessage says what was denied, why, how the author fixes it and how
// an admin exempts it: what `kubectl describe` on the owner shows.
func eventMessage(d denial, ownerKind string) string {
	rules := d.verdict.DeniedRules()
	head := fmt.Sprintf("daemonguard denied DaemonSet %s/%s, which this %s owns, by %s.", d.namespace, d.ds.Name, ownerKind, strings.Join(rules, ", "))
	tail := " " + d.verdict.WayOut(d.namespace, d.ds)
	var findings []string
	for _, x := range d.verdict.Violations {
		if x.Action == policy.Deny {
			findings = append(findings, " ["+x.Rule+"] "+x.Field+": "+x.Message+".")
		}
	}
	budget := maxEventMessage - len(head) - len(tail)
	var b strings.Builder
	b.WriteString(head)
	for i, f := range findings {
		more := fmt.Sprintf(" (and %d more: daemonguard check prints them)", len(findings)-i)
		if len(f)+len(more) > budget {
			b.WriteString(more)
			break
		}
		b.WriteString(f)
		budget -= len(f)
	}
	b.WriteString(tail)
	return b.String()
}
