package policy

import (
	"testing"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/defaults"
	"github.com/daemonguard/daemonguard/mutators"
	"github.com/daemonguard/daemonguard/test/dstest"
)

// TestEveryMutatorActsInACluster: every mutator, under the built-in policy,
// changes some DaemonSet of the corpora and the random sample as the API
// server sends them, defaults applied. A mutator that fills a field the API
// server always defaults (revisionHistoryLimit, imagePullPolicy) acts on a
// unit test's hand-built object and never in a cluster: this fails for it.
func TestEveryMutatorActsInACluster(t *testing.T) {
	var objects [][]byte
	for _, dir := range []string{dstest.ExamplesDir, dstest.AllowedDir} {
		for _, f := range dstest.Corpus(t, dir) {
			objects = append(objects, f.Data)
		}
	}
	opts := MutatorOptions(config.Defaults())
	for _, d := range mutators.Registry() {
		m := d.New(opts)
		acted := 0
		for _, data := range objects {
			ds := dstest.FromYAML(t, data)
			defaults.DaemonSet(ds)
			if r := m.Mutate(t.Context(), ds); len(r.Patch) > 0 {
				acted++
			}
		}
		for _, ds := range dstest.RandomValidDaemonSets(7, 50) {
			defaults.DaemonSet(ds)
			if r := m.Mutate(t.Context(), ds); len(r.Patch) > 0 {
				acted++
			}
		}
		if acted == 0 {
			t.Errorf("mutator %s changes none of %d DaemonSets once the API server's defaults are applied: in a cluster it never acts", d.Name, len(objects)+50)
		}
	}
}
