package webhook

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/reference"

	"github.com/daemonguard/daemonguard/internal/kube"
)

// coreEvents writes core/v1 Events through cs, in any namespace.
func coreEvents(cs *kube.Clientset) func(namespace string) eventWriter {
	return func(namespace string) eventWriter { return cs.CoreEvents(namespace) }
}

// eventsRecorder writes events.k8s.io/v1 Events as client-go's events
// recorder (controller-runtime's) makes them: named after the object and
// the time, in its namespace or "default" for a cluster-scoped one,
// reported by "daemonguard" on this host. Each is one create; the check
// that records them does so once per change of state.
type eventsRecorder struct {
	events   func(namespace string) *kube.Client[*eventsv1.Event, *eventsv1.EventList]
	instance string
	log      logr.Logger
}

func newEventsRecorder(cs *kube.Clientset, log logr.Logger) *eventsRecorder {
	host, _ := os.Hostname()
	return &eventsRecorder{events: cs.Events, instance: host, log: log}
}

// Eventf implements eventRecorder.
func (r *eventsRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	ref, err := reference.GetReference(kube.Scheme, regarding)
	if err != nil {
		r.log.Error(err, "no reference to record an Event on", "reason", reason)
		return
	}
	var rel *corev1.ObjectReference
	if related != nil {
		if rel, err = reference.GetReference(kube.Scheme, related); err != nil {
			rel = nil
		}
	}
	now := time.Now()
	namespace := ref.Namespace
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%v.%x", ref.Name, now.UnixNano()), Namespace: namespace},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: "daemonguard", ReportingInstance: r.instance,
		Action: action, Reason: reason, Regarding: *ref, Related: rel, Type: eventtype,
		Note: fmt.Sprintf(note, args...),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.events(namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		r.log.Error(err, "recording an Event", "reason", reason, "regarding", ref.Name)
	}
}
