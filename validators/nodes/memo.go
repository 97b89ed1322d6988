package nodes

import (
	"encoding/json"
	"slices"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// memoEntries bounds a Memo: past it, the memo starts over.
const memoEntries = 1024

// Memo remembers what Review finds on the nodes, for one list of nodes, by
// what of a DaemonSet those findings depend on: its scheduling constraints
// and its requests. The DaemonSets of a cluster mostly share a few such
// shapes, so the Reporter's resync and scan, which review every DaemonSet
// against the same nodes, walk the nodes once per shape instead of once per
// DaemonSet. A Memo is safe for concurrent use; the zero value is not, use
// NewMemo.
type Memo struct {
	mu sync.Mutex
	// list is the node list the entries hold for, known by its backing
	// array: a lister hands out a new slice when the nodes change. Holding
	// it keeps the array from being reused for another list.
	list  *(*corev1.Node)
	n     int
	found map[string][]Finding
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo { return &Memo{found: map[string][]Finding{}} }

// Review is Review(ds, nodes). The node findings come from the memo when a
// DaemonSet of the same shape was reviewed against the same slice of nodes;
// nodes must therefore not change once passed (a new list is a new slice).
// A nil Memo reviews every DaemonSet anew.
func (m *Memo) Review(ds *appsv1.DaemonSet, nodes []*corev1.Node) []Finding {
	if m == nil || len(nodes) == 0 {
		return Review(ds, nodes)
	}
	key, err := shapeKey(ds)
	if err != nil {
		return Review(ds, nodes)
	}
	m.mu.Lock()
	if m.list != &nodes[0] || m.n != len(nodes) {
		m.list, m.n = &nodes[0], len(nodes)
		clear(m.found)
	}
	found, ok := m.found[key]
	m.mu.Unlock()
	if !ok {
		found = nodeFindings(ds, nodes)
		m.mu.Lock()
		if m.list == &nodes[0] && m.n == len(nodes) {
			if len(m.found) >= memoEntries {
				clear(m.found)
			}
			m.found[key] = found
		}
		m.mu.Unlock()
	}
	out := slices.Clip(found)
	if f, ok := hostPortFinding(ds); ok {
		out = append(out, f)
	}
	return out
}

// shape is everything of a DaemonSet that nodeFindings reads: what the
// controller's predicates read (nodeName, the daemon pod's tolerations, the
// nodeSelector and required node affinity), the pod's requests, and the
// fields the findings name.
type shape struct {
	NodeName      string               `json:"n,omitempty"`
	Tolerations   []corev1.Toleration  `json:"t,omitempty"`
	NodeSelector  map[string]string    `json:"s,omitempty"`
	Required      *corev1.NodeSelector `json:"a,omitempty"`
	Requests      corev1.ResourceList  `json:"r,omitempty"`
	SelectorField string               `json:"sf"`
	RequestsField string               `json:"rf"`
}

// shapeKey is ds's shape as a string. Equal keys mean equal node findings:
// TestMemoKeyHoldsWhatTheChecksRead changes each input in turn.
func shapeKey(ds *appsv1.DaemonSet) (string, error) {
	spec := &ds.Spec.Template.Spec
	s := shape{
		NodeName:      spec.NodeName,
		Tolerations:   DaemonPodTolerations(spec),
		NodeSelector:  spec.NodeSelector,
		Requests:      PodRequests(ds),
		SelectorField: selectorField(spec),
		RequestsField: requestsField(spec),
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil {
		s.Required = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	b, err := json.Marshal(s)
	return string(b), err
}
