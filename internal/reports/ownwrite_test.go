package reports

import (
	"errors"
	"testing"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
