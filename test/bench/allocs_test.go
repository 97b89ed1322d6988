package bench

import (
	"net/http"
	"testing"

	"github.com/daemonguard/daemonguard/webhook"
)

// maxAllocs is the allocation budget of one daemonguard request, recorder
// included. Allocation counts are deterministic, unlike timings, so the
// budget is asserted here; the speed targets are only reported by `make bench`.
const maxAllocs = 300

func TestAllocationBudget(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	mb, vb := requests(t)
	m, v := daemonguardHandlers(t, compiledPolicy(t))
	for _, c := range []struct {
		name string
		h    http.Handler
		path string
		body []byte
	}{
		{"mutate", m, webhook.MutatePath, mb},
		{"validate", v, webhook.ValidatePath, vb},
	} {
		p := newPoster(c.path, c.body)
		if w := p.serve(c.h); w.Code != http.StatusOK {
			t.Fatalf("%s: HTTP %d: %s", c.name, w.Code, w.Body)
		}
		allocs := testing.AllocsPerRun(200, func() { p.serve(c.h) })
		t.Logf("%s: %.0f allocations per request", c.name, allocs)
		if allocs > maxAllocs {
			t.Errorf("%s: %.0f allocations per request, budget %d", c.name, allocs, maxAllocs)
		}
	}
}
