package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
)

// newerField is a DaemonSet field the rules read that the oldest supported
// API servers do not keep by default: the field did not exist yet, or its
// feature gate was off, so the server drops it (or resets it) before any
// webhook is called, and it never reaches the node. The webhook judges the
// object the server keeps, which is right: what the node runs. `check` and
// internal/defaults model kube-apiserver 1.37, which keeps them all.
type newerField struct {
	// path is the field in the form the rules name fields, with [*] for
	// every element of a list.
	path string
	// keptFrom is the first minor version whose API server keeps it by
	// default.
	keptFrom int
	// unknownBefore is the first minor version that knows the field at all
	// (0: known on every supported version); older servers warn "unknown
	// field".
	unknownBefore int
	// resetTo is what the server writes instead of dropping the field
	// ("" drops it).
	resetTo string
	why     string
}

// newerFields, from k8s.io/kubernetes pkg/features (v1.37.2) and each
// version's dropDisabledFields.
var newerFields = []newerField{
	{path: "spec.template.spec.securityContext.supplementalGroupsPolicy", keptFrom: 33, unknownBefore: 31,
		why: "added in 1.31 behind SupplementalGroupsPolicy (alpha, off); beta and on by default from 1.33"},
	{path: "spec.template.spec.hostUsers", keptFrom: 33,
		why: "UserNamespacesSupport is off by default until 1.33 (beta from 1.30)"},
	{path: "spec.template.spec.containers[*].volumeMounts[*].recursiveReadOnly", keptFrom: 31,
		why: "RecursiveReadOnlyMounts is alpha (off) in 1.30, beta and on by default from 1.31"},
	{path: "spec.template.spec.initContainers[*].volumeMounts[*].recursiveReadOnly", keptFrom: 31,
		why: "RecursiveReadOnlyMounts is alpha (off) in 1.30, beta and on by default from 1.31"},
	{path: "spec.template.spec.containers[*].securityContext.procMount", keptFrom: 33, resetTo: "Default",
		why: "ProcMountType is off by default until 1.33: the API server resets procMount to Default"},
	{path: "spec.template.spec.initContainers[*].securityContext.procMount", keptFrom: 33, resetTo: "Default",
		why: "ProcMountType is off by default until 1.33: the API server resets procMount to Default"},
}

// asServerKeeps changes obj (an unstructured DaemonSet) as an API server of
// the given minor version does with the newer fields it does not keep, and
// returns the fields it changed.
func asServerKeeps(obj map[string]any, minor int) []string {
	var changed []string
	for _, f := range newerFields {
		if minor >= f.keptFrom {
			continue
		}
		for _, p := range expand(obj, f.path) {
			parent, key := p[:len(p)-1], p[len(p)-1]
			m, ok := walk(obj, parent).(map[string]any)
			if !ok {
				continue
			}
			v, present := m[key.(string)]
			if !present || (f.resetTo != "" && v == f.resetTo) {
				continue
			}
			if f.resetTo != "" {
				m[key.(string)] = f.resetTo
			} else {
				delete(m, key.(string))
			}
			changed = append(changed, pathString(p))
		}
	}
	return changed
}

// serverOwnWarning reports whether w is the API server's own warning about a
// field this version does not know (which daemonguard does not give).
func serverOwnWarning(w string, minor int) bool {
	name, ok := strings.CutPrefix(w, `unknown field "`)
	if !ok {
		return false
	}
	name = strings.TrimSuffix(name, `"`)
	for _, f := range newerFields {
		if minor < f.unknownBefore && matches(f.path, name) {
			return true
		}
	}
	return false
}

// matches reports whether a concrete field path (with indexes) is pattern
// (with [*]).
func matches(pattern, path string) bool {
	pp, cp := strings.Split(pattern, "[*]"), path
	for i, part := range pp {
		rest, ok := strings.CutPrefix(cp, part)
		if !ok {
			return false
		}
		if i == len(pp)-1 {
			return rest == ""
		}
		end := strings.Index(rest, "]")
		if !strings.HasPrefix(rest, "[") || end < 0 {
			return false
		}
		if _, err := strconv.Atoi(rest[1:end]); err != nil {
			return false
		}
		cp = rest[end+1:]
	}
	return false
}

// expand lists the concrete paths (keys and indexes) of pattern in obj
// whose parent exists.
func expand(obj map[string]any, pattern string) [][]any {
	paths := [][]any{nil}
	for _, tok := range strings.Split(pattern, ".") {
		name, list := strings.CutSuffix(tok, "[*]")
		var next [][]any
		for _, p := range paths {
			p = append(slices.Clone(p), name)
			if !list {
				next = append(next, p)
				continue
			}
			items, _ := walk(obj, p).([]any)
			for i := range items {
				next = append(next, append(slices.Clone(p), i))
			}
		}
		paths = next
	}
	return paths
}

func walk(obj any, path []any) any {
	cur := obj
	for _, k := range path {
		switch k := k.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}

func pathString(p []any) string {
	var b strings.Builder
	for i, k := range p {
		switch k := k.(type) {
		case string:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(k)
		case int:
			fmt.Fprintf(&b, "[%d]", k)
		}
	}
	return b.String()
}

// asServerKeepsTyped is asServerKeeps on a typed DaemonSet.
func asServerKeepsTyped(t *testing.T, ds *appsv1.DaemonSet, minor int) []string {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ds)
	if err != nil {
		t.Fatal(err)
	}
	changed := asServerKeeps(m, minor)
	*ds = appsv1.DaemonSet{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, ds); err != nil {
		t.Fatal(err)
	}
	return changed
}

// asServerKeepsJSON is asServerKeeps on a JSON DaemonSet; data comes back
// unchanged when the server keeps it all.
func asServerKeepsJSON(t *testing.T, data []byte, minor int) ([]byte, []string) {
	t.Helper()
	u := unstructuredOf(t, data)
	changed := asServerKeeps(u.Object, minor)
	if len(changed) == 0 {
		return data, nil
	}
	out, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	return out, changed
}

func TestNewerFieldPaths(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"spec.template.spec.containers[*].volumeMounts[*].recursiveReadOnly", "spec.template.spec.containers[0].volumeMounts[12].recursiveReadOnly", true},
		{"spec.template.spec.containers[*].volumeMounts[*].recursiveReadOnly", "spec.template.spec.containers[0].volumeMounts.recursiveReadOnly", false},
		{"spec.template.spec.containers[*].securityContext.procMount", "spec.template.spec.initContainers[0].securityContext.procMount", false},
		{"spec.template.spec.hostUsers", "spec.template.spec.hostUsers", true},
		{"spec.template.spec.hostUsers", "spec.template.spec.hostUsersX", false},
	} {
		if got := matches(c.pattern, c.path); got != c.want {
			t.Errorf("matches(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
	u := unstructuredOf(t, []byte(`{"apiVersion":"apps/v1","kind":"DaemonSet","spec":{"template":{"spec":{"hostUsers":true,"containers":[
		{"name":"a","securityContext":{"procMount":"Unmasked"},"volumeMounts":[{"name":"x"},{"name":"y","recursiveReadOnly":"Enabled"}]}]}}}}`))
	got := asServerKeeps(u.Object, 30)
	want := []string{"spec.template.spec.hostUsers", "spec.template.spec.containers[0].volumeMounts[1].recursiveReadOnly", "spec.template.spec.containers[0].securityContext.procMount"}
	if !slices.Equal(got, want) {
		t.Errorf("changed %q, want %q", got, want)
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "template", "spec", "hostUsers"); found {
		t.Error("hostUsers was not dropped")
	}
	if pm, _, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "template", "spec", "containers"); pm.([]any)[0].(map[string]any)["securityContext"].(map[string]any)["procMount"] != "Default" {
		t.Error("procMount was not reset to Default")
	}
	if got := asServerKeeps(unstructuredOf(t, []byte(`{"apiVersion":"apps/v1","kind":"DaemonSet","spec":{"template":{"spec":{"hostUsers":true}}}}`)).Object, 37); len(got) != 0 {
		t.Errorf("1.37 keeps everything; changed %q", got)
	}
}

// TestTheWebhookJudgesWhatTheServerKeeps: a DaemonSet made safe by a field
// an older API server drops is judged without it there, because that is
// what the node runs: allowed from the version that keeps the field,
// denied (or warned about) before it, with the API server's own "unknown
// field" warning where it does not know the field at all. `check` (1.37)
// allows it; the README says so.
func TestTheWebhookJudgesWhatTheServerKeeps(t *testing.T) {
	ns := namespace(t)
	files := map[string]dstest.CorpusFile{}
	for _, f := range dstest.Corpus(t, dstest.AllowedDir) {
		files[f.Name] = f
	}
	for _, tc := range []struct {
		file, field string
		keptFrom    int
		// older is what the webhook says on an older server: a denying
		// rule, or a warning's prefix.
		deny, warn string
	}{
		{file: "am-socket-unprivileged", field: "spec.template.spec.securityContext.supplementalGroupsPolicy", keptFrom: 33, deny: "container-runtime-socket"},
		{file: "am-readonly-sys-recursive", field: "spec.template.spec.containers[0].volumeMounts[0].recursiveReadOnly", keptFrom: 31, warn: "[readonly-not-recursive] spec.template.spec.containers[0].volumeMounts[0]"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, ok := files[tc.file]
			if !ok {
				t.Fatalf("no allowed corpus file %s", tc.file)
			}
			data := inNamespace(t, f.Data, ns)
			if _, ok := at(unstructuredOf(t, data).Object, tc.field); !ok {
				t.Fatalf("%s does not set %s", tc.file, tc.field)
			}
			// What the server keeps: a dry run where the webhooks are not called.
			kept := unstructuredOf(t, inNamespace(t, f.Data, controlplane.WebhookNamespace))
			warnings.Take()
			if err := c.Create(ctx, kept, client.DryRunAll); err != nil {
				t.Fatal(err)
			}
			own := warnings.Take()
			_, has := at(kept.Object, tc.field)
			if has != (serverMinor >= tc.keptFrom) {
				t.Fatalf("kube-apiserver 1.%d kept %s: %v, the table says it keeps it from 1.%d", serverMinor, tc.field, has, tc.keptFrom)
			}
			unknown := slices.ContainsFunc(own, func(w string) bool { return serverOwnWarning(w, serverMinor) })
			if want := serverMinor < unknownBefore(tc.field); unknown != want {
				t.Errorf("the API server's own unknown-field warning: %v, want %v (%q)", unknown, want, own)
			}

			warnings.Take()
			err := c.Create(ctx, unstructuredOf(t, data), client.DryRunAll)
			got := warnings.Take()
			switch {
			case serverMinor >= tc.keptFrom:
				if err != nil {
					t.Fatalf("kube-apiserver 1.%d keeps %s: want allowed, got %v", serverMinor, tc.field, err)
				}
				if tc.warn != "" && slices.ContainsFunc(got, func(w string) bool { return strings.HasPrefix(w, tc.warn) }) {
					t.Errorf("want no %q warning, got %q", tc.warn, got)
				}
			case tc.deny != "":
				if err == nil || !strings.Contains(err.Error(), "["+tc.deny+"]") {
					t.Fatalf("kube-apiserver 1.%d drops %s: want a [%s] denial, got %v", serverMinor, tc.field, tc.deny, err)
				}
				t.Logf("kube-apiserver 1.%d drops %s, so the webhook denies: %v", serverMinor, tc.field, err)
			default:
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(got, func(w string) bool { return strings.HasPrefix(w, tc.warn) }) {
					t.Fatalf("kube-apiserver 1.%d drops %s: want a %q warning, got %q", serverMinor, tc.field, tc.warn, got)
				}
				t.Logf("kube-apiserver 1.%d drops %s, so the webhook warns", serverMinor, tc.field)
			}
		})
	}
}

func unknownBefore(field string) int {
	for _, f := range newerFields {
		if matches(f.path, field) {
			return f.unknownBefore
		}
	}
	return 0
}

// olderServerDrops is the newer field (of newerFields) at the concrete path
// field that this API server drops or resets, if any.
func olderServerDrops(field string) (newerField, bool) {
	for _, f := range newerFields {
		if serverMinor < f.keptFrom && matches(f.path, field) {
			return f, true
		}
	}
	return newerField{}, false
}
