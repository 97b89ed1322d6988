package policy

import (
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/test/dstest"
)

// corpusDaemonSets are every DaemonSet of the corpora that hold real agents
// and the tricks the rules deny, keyed by file.
func corpusDaemonSets(t *testing.T) (names []string, all map[string]*appsv1.DaemonSet) {
	t.Helper()
	all = map[string]*appsv1.DaemonSet{}
	for _, dir := range []string{dstest.AllowedDir, dstest.BypassDir, "deploy/recipes/testdata", dstest.UnsafeDir, dstest.ExamplesDir} {
		for _, f := range dstest.Corpus(t, dir) {
			if f.Old != nil {
				continue // an UPDATE's new side: its CREATE is elsewhere
			}
			key := dir + "/" + f.Name
			all[key] = dstest.FromYAML(t, f.Data)
			names = append(names, key)
		}
	}
	return names, all
}

// TestPrintedExemptionAdmitsOnlyItsDaemonSet: every denied DaemonSet of the
// corpora (real agents from their charts, the bypass tricks, the unsafe
// examples), all placed in one namespace, gets an entry that admits it and
// changes the verdict of no other DaemonSet there, labelled like it or not.
func TestPrintedExemptionAdmitsOnlyItsDaemonSet(t *testing.T) {
	const ns = "shared"
	keys, all := corpusDaemonSets(t)
	base := parsePolicy(t, "", Options{})
	verdict := func(p *Policy, ds *appsv1.DaemonSet) Verdict {
		ds = ds.DeepCopy()
		p.Mutate(t.Context(), ns, ds)
		return p.Validate(t.Context(), ns, nil, ds)
	}
	before := map[string]bool{}
	for _, k := range keys {
		v := verdict(base, all[k])
		before[k] = v.Allowed()
	}
	denied, others, wider := 0, 0, 0
	oldWide, unlabelled := map[string]bool{}, 0
	for _, k := range keys {
		if before[k] {
			continue
		}
		denied++
		ds := all[k]
		v := verdict(base, ds)
		e := NarrowestExemption(ds, ns, v.DeniedRules())
		if e == nil || len(e.DaemonSets) != 1 || e.Selector != nil || e.AnyNamespace || !slices.Equal(e.Namespaces, []string{ns}) {
			t.Errorf("%s: printed %+v, want its namespace and name", k, e)
			continue
		}
		p := withExemption(t, e)
		// What check printed before: a selector of its labels, or the
		// whole namespace without labels.
		le := labelEntry(ds, ns, e.Rules)
		if le.Selector == nil {
			unlabelled++
		}
		old := withExemption(t, le)
		if old.Exemptions(ns, ds) == nil {
			t.Errorf("%s: the label entry does not match it", k)
		}
		if v := verdict(p, ds); !v.Allowed() {
			t.Errorf("%s: still denied with its entry: %v", k, v.DeniedRules())
		}
		for _, o := range keys {
			if o == k || all[o].Name == ds.Name {
				continue // two DaemonSets cannot share a name in one namespace
			}
			others++
			// The policies differ only by the entry: where it does not
			// match, the verdict is the one without it.
			if m := p.Exemptions(ns, all[o]); len(m) > 0 {
				t.Errorf("%s's entry matches %s: %+v", k, o, m)
			}
			if old.Exemptions(ns, all[o]) != nil {
				wider++
				oldWide[k] = true
			}
		}
		// Nothing the author of another DaemonSet sets on it makes the
		// entry match it: its labels and annotations copied, the same
		// template, a name generated from this one's.
		impostor := ds.DeepCopy()
		impostor.Name = ds.Name + "-2"
		impostor.Annotations = map[string]string{"daemonguard.io/exempt": "true"}
		if m := p.Exemptions(ns, impostor); len(m) > 0 {
			t.Errorf("%s's entry matches a copy of it named %s: %+v", k, impostor.Name, m)
		}
		impostor.Name, impostor.GenerateName = "", ds.Name
		if m := p.Exemptions(ns, impostor); len(m) > 0 {
			t.Errorf("%s's entry matches a copy of it with generateName %s: %+v", k, ds.Name, m)
		}
		// Nor the same DaemonSet in another namespace.
		if m := p.Exemptions("default", ds); len(m) > 0 {
			t.Errorf("%s's entry matches it in namespace default: %+v", k, m)
		}
	}
	realDenied, realWide := 0, 0
	for _, k := range keys {
		if !before[k] && (strings.Contains(k, "/real-") || strings.Contains(k, "recipes/")) {
			realDenied++
			if oldWide[k] {
				realWide++
			}
		}
	}
	t.Logf("real agents (allowed/real-*, recipes): %d denied in the shared namespace; label entries matched another DaemonSet for %d of them, name entries for 0", realDenied, realWide)
	if denied < 40 {
		t.Errorf("only %d denied DaemonSets in the corpora: the test lost its material", denied)
	}
	t.Logf("%d DaemonSets in one namespace, %d denied: each one's entry admits it and matches none of the %d others it was compared with; "+
		"entries by labels, as check printed them before, matched %d of those, %d of the %d entries matched another DaemonSet, %d were the whole namespace (no labels)",
		len(keys), denied, others, wider, len(oldWide), denied, unlabelled)
}

// withExemption is the default policy with e after the kube-system entry.
func withExemption(t *testing.T, e *config.Exemption) *Policy {
	t.Helper()
	y, err := yaml.Marshal([]any{map[string]any{"namespaces": []string{"kube-system"}}, e})
	if err != nil {
		t.Fatal(err)
	}
	return parsePolicy(t, "exemptions:\n"+string(y), Options{})
}

func TestFlowParses(t *testing.T) {
	e := &config.Exemption{Namespaces: []string{"a"}, DaemonSets: []string{"b.c"}, Rules: []string{"x"}, Reason: `it says "why": here`}
	var back config.Exemption
	if err := yaml.UnmarshalStrict([]byte(Flow(e)), &back); err != nil {
		t.Fatal(err)
	}
	if strings.Join(back.DaemonSets, ",") != "b.c" || back.Reason != e.Reason {
		t.Errorf("round trip %+v", back)
	}
}

// labelEntry is the entry check printed before exemptions could name a
// DaemonSet: a selector of its application labels, else of all its
// labels, else its whole namespace. Kept to measure what names changed.
func labelEntry(ds *appsv1.DaemonSet, ns string, rules []string) *config.Exemption {
	e := &config.Exemption{Namespaces: []string{ns}, Rules: rules}
	match := map[string]string{}
	for _, k := range selectorLabels() {
		if v, ok := ds.Labels[k]; ok && (k != "app.kubernetes.io/instance" || ds.Labels["app.kubernetes.io/name"] != "") {
			match[k] = v
		}
	}
	if len(match) == 0 {
		maps.Copy(match, ds.Labels)
	}
	if len(match) > 0 {
		e.Selector = &metav1.LabelSelector{MatchLabels: match}
	}
	return e
}

func TestGeneratedName(t *testing.T) {
	for _, tc := range []struct {
		name, generate string
		want           bool
	}{
		{"falco", "", false},
		{"", "falco-", true},
		{"falco-x7k2p", "falco-", true},
		{"falco", "falco-", false}, // a name given beside generateName is used
		{"falco-exporter", "falco-", false},
		{strings.Repeat("a", 58) + "x7k2p", strings.Repeat("a", 60), true},
	} {
		ds := &appsv1.DaemonSet{}
		ds.Name, ds.GenerateName = tc.name, tc.generate
		if got := generatedName(ds); got != tc.want {
			t.Errorf("generatedName(%q, %q) = %v, want %v", tc.name, tc.generate, got, tc.want)
		}
		if e := NarrowestExemption(ds, "ns", []string{"r"}); tc.name != "" && !tc.want && (e == nil || len(e.DaemonSets) != 1) {
			t.Errorf("%q (generateName %q): entry %+v, want it by name", tc.name, tc.generate, e)
		}
	}
}
