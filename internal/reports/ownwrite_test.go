package reports

import (
	"errors"
	"testing"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

// The Reporter's own write, coming back through its watch, is not queued
// again; anyone else's change to the Report is.
func TestOwnWriteIsNotAChange(t *testing.T) {
	r := &Reporter{}
	report := func(ns, rv string) *openreportsv1alpha1.Report {
		return &openreportsv1alpha1.Report{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ReportName, ResourceVersion: rv}}
	}
	if r.ownWrite(report("a", "10")) {
		t.Error("a Report never written is taken for the Reporter's own")
	}
	r.remember(report("a", "10"), nil)
	r.remember(report("b", "11"), errors.New("conflict"))
	for _, tc := range []struct {
		obj  any
		want bool
	}{
		{report("a", "10"), true},
		{report("a", "12"), false}, // edited by someone else since
		{report("b", "11"), false}, // that write failed
		{report("c", "10"), false}, // another namespace
		{report("a", ""), false},
		{"not a report", false},
	} {
		if got := r.ownWrite(tc.obj); got != tc.want {
			t.Errorf("ownWrite(%v) = %v, want %v", tc.obj, got, tc.want)
		}
	}
}

// A resync (every ten hours or so) queues the namespaces whose Report is
// not the Reporter's last write, as controller-runtime's informer resync
// did through the Reports' update handler.
func TestResyncQueuesReportsNotLastWritten(t *testing.T) {
	r := NewReporter(nil, Options{})
	r.queue = r.newQueue()
	defer r.queue.ShutDown()
	r.reports = toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
	for _, ns := range []string{"mine", "theirs"} {
		rep := &openreportsv1alpha1.Report{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ReportName, ResourceVersion: "7"}}
		if err := r.reports.Add(rep); err != nil {
			t.Fatal(err)
		}
		if ns == "mine" {
			r.remember(rep, nil)
		}
	}
	r.resync()
	if r.queue.Len() != 1 {
		t.Fatalf("%d namespaces queued, want 1", r.queue.Len())
	}
	if ns, _ := r.queue.Get(); ns != "theirs" {
		t.Errorf("queued %q, want theirs", ns)
	}
	if got, err := r.currentReport("theirs"); err != nil || got == nil || got.Namespace != "theirs" {
		t.Errorf("currentReport(theirs) = %v, %v", got, err)
	}
	if got, err := r.currentReport("none"); err != nil || got != nil {
		t.Errorf("currentReport(none) = %v, %v; want nil, nil", got, err)
	}
}
