package validators

import (
	"fmt"
	"strings"
	"testing"

	"github.com/daemonguard/daemonguard/test/dstest"
)

// TestRegistry: every rule carries what the docs, the policy and the
// conditions need, and the ids with their default actions are those of
// testdata/registry.golden: changing a default is deliberate (regenerate the
// file with UPDATE_GOLDEN=1), adding a rule breaks no other test.
func TestRegistry(t *testing.T) {
	var b strings.Builder
	seen := map[string]bool{}
	for _, d := range Registry() {
		if d.Summary == "" || d.Why == "" || len(d.Reads) == 0 || d.New == nil {
			t.Errorf("%s: a registry entry needs a summary, why it is dangerous, the fields it reads and a constructor", d.ID)
		}
		if seen[d.ID] {
			t.Errorf("rule id %s registered twice", d.ID)
		}
		seen[d.ID] = true
		fmt.Fprintf(&b, "%s %s\n", d.ID, d.Default)
	}
	if got := Defaults(); len(got) != len(Registry()) {
		t.Errorf("Defaults() has %d rules, the registry %d", len(got), len(Registry()))
	}
	dstest.Golden(t, "testdata/registry.golden", b.String())
}
