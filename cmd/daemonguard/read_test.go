package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf16"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	kjson "sigs.k8s.io/json"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
)

// offlineGetter gives the builder what a non-local kubectl run has, without
// a cluster: a REST mapper (so namespaces are defaulted and enforced by
// scope, as kubectl does) and a REST config that is never dialled. File
// input never fetches: the builder only retrieves objects it did not read.
type offlineGetter struct{}

func (offlineGetter) ToRESTConfig() (*rest.Config, error) {
	return &rest.Config{Host: "https://offline.invalid"}, nil
}

func (offlineGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return nil, errors.New("offline: files, not resources or categories from a cluster")
}

func (offlineGetter) ToRESTMapper() (meta.RESTMapper, error) { return staticMapper{}, nil }

// staticMapper maps every kind without discovery: the resource guessed from
// the kind, the scope from read.go's table, as the reader scopes kinds.
type staticMapper struct{ meta.RESTMapper } // the builder calls only RESTMapping for files

func (staticMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	gvk := gk.WithVersion("")
	if len(versions) > 0 {
		gvk.Version = versions[0]
	}
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	scope := meta.RESTScopeNamespace
	if !namespaced(gk) {
		scope = meta.RESTScopeRoot
	}
	return &meta.RESTMapping{Resource: plural, GroupVersionKind: gvk, Scope: scope}, nil
}

// kubectlApplies is what `kubectl apply [-n NS] -f FILE...` would send for
// the files: the builder chain of ApplyOptions.GetObjects, run as kubectl
// runs it (FilenameParam over whole files, Flatten), offline. It is the
// oracle check's reader must agree with; it returns "namespace/name" of the
// apps/v1 DaemonSets, their JSON, and the error.
func kubectlApplies(t *testing.T, namespace string, enforce bool, files ...string) (map[string]string, error) {
	t.Helper()
	infos, err := resource.NewBuilder(offlineGetter{}).
		Unstructured().
		ContinueOnError().
		NamespaceParam(namespace).DefaultNamespace().
		FilenameParam(enforce, &resource.FilenameOptions{Filenames: files}).
		Flatten().
		Do().
		Infos()
	out := map[string]string{}
	for _, info := range infos {
		gvk := info.Object.GetObjectKind().GroupVersionKind()
		if gvk.Group == "apps" && gvk.Version == "v1" && gvk.Kind == "DaemonSet" {
			js, _ := json.Marshal(info.Object)
			out[info.Namespace+"/"+info.Name] = string(js)
		}
	}
	return out, err
}

// checkReviews runs check over the files and returns "namespace/name" of
// the DaemonSets it reviewed with the object it reviewed (before mutation).
func checkReviews(t *testing.T, args ...string) (map[string]string, checkReport, int, string) {
	t.Helper()
	code, out, errOut := runCmd(t, "", append([]string{"check", "-o", "json", "--config", emptyPolicy(t)}, args...)...)
	got := map[string]string{}
	var r checkReport
	if code == exitUsage {
		return got, r, code, errOut
	}
	r = decodeReport(t, out)
	for _, res := range r.Results {
		got[res.Namespace+"/"+res.Name] = res.Source
	}
	return got, r, code, errOut
}

// emptyPolicy turns every mutator off, so check's object is the input.
func emptyPolicy(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(f, []byte("apiVersion: daemonguard.io/v1alpha1\nkind: Policy\nmutation: {tolerations: {enabled: false}, priorityClass: {enabled: false}, resources: {enabled: false}}\n"), 0o644)
	return f
}

const dsYAML = `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: NAME, labels: {app: NAME}}
spec:
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: {app: NAME}}
    spec:
      containers: [{name: c, image: i}]
`

func ds(name string) string { return strings.ReplaceAll(dsYAML, "NAME", name) }

func dsJSON(name, extra string) string {
	return `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"` + name + `"` + extra + `},"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`
}

func utf16File(s string, bigEndian bool) []byte {
	var b []byte
	if bigEndian {
		b = []byte{0xFE, 0xFF}
	} else {
		b = []byte{0xFF, 0xFE}
	}
	for _, u := range utf16.Encode([]rune(s)) {
		if bigEndian {
			b = append(b, byte(u>>8), byte(u))
		} else {
			b = append(b, byte(u), byte(u>>8))
		}
	}
	return b
}

// TestCheckReadsWhatKubectlApplies: for every file shape kubectl reads,
// check reviews exactly the DaemonSets kubectl would apply, in the
// namespaces kubectl would apply them to.
func TestCheckReadsWhatKubectlApplies(t *testing.T) {
	cases := map[string]struct {
		files map[string][]byte // written into a directory; the first key sorted is passed unless args says otherwise
		args  []string          // file arguments relative to the directory; default: every file
		want  []string          // namespace/name, as a check on the oracle itself
	}{
		"multi-document YAML with comments, empty documents and other kinds": {
			files: map[string][]byte{"a.yaml": []byte("# only a comment\n---\n---\n" + ds("one") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n" + ds("two") + "...\n")},
			want:  []string{"default/one", "default/two"},
		},
		"a v1 List": {
			files: map[string][]byte{"l.yaml": []byte("apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSpace(ds("in-list")), "\n", "\n  ") + "\n")},
			want:  []string{"default/in-list"},
		},
		"a DaemonSetList with kindless items": {
			files: map[string][]byte{"l.json": []byte(`{"apiVersion":"apps/v1","kind":"DaemonSetList","items":[{"metadata":{"name":"kindless"},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i"}]}}}}]}`)},
			want:  []string{"default/kindless"},
		},
		"any kind with an items array is a list; a DaemonSet with items disappears": {
			files: map[string][]byte{"w.yaml": []byte("apiVersion: example.com/v1\nkind: Whatever\nitems:\n- " + strings.ReplaceAll(strings.TrimSpace(ds("inner")), "\n", "\n  ") + "\n---\n" + ds("gone") + "items: []\n")},
			want:  []string{"default/inner"},
		},
		"a JSON stream of concatenated objects": {
			files: map[string][]byte{"s.json": []byte(dsJSON("j1", "") + dsJSON("j2", `,"namespace":"ops"`) + "\n" + dsJSON("j3", ""))},
			want:  []string{"default/j1", "ops/j2", "default/j3"},
		},
		"JSON then YAML": {
			files: map[string][]byte{"m.yaml": []byte(dsJSON("first", "") + "\n---\n" + ds("second"))},
			want:  []string{"default/first", "default/second"},
		},
		"a UTF-8 byte-order mark": {
			files: map[string][]byte{"bom.yaml": append([]byte{0xEF, 0xBB, 0xBF}, ds("bom8")...)},
			want:  []string{"default/bom8"},
		},
		"UTF-16LE with a byte-order mark": {
			files: map[string][]byte{"le.yaml": utf16File(ds("le16"), false)},
			want:  []string{"default/le16"},
		},
		"UTF-16BE with a byte-order mark": {
			files: map[string][]byte{"be.yaml": utf16File(ds("be16"), true)},
			want:  []string{"default/be16"},
		},
		"YAML anchors and merge keys": {
			files: map[string][]byte{"merge.yaml": []byte(`apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: merged
  labels: &labels {app: merged}
spec:
  selector: {matchLabels: *labels}
  template:
    metadata: {labels: *labels}
    spec:
      containers:
      - &base {name: c, image: i}
      - <<: *base
        name: d
`)},
			want: []string{"default/merged"},
		},
		"duplicate keys: the last wins, as kubectl sends it": {
			files: map[string][]byte{"dup.yaml": []byte(strings.Replace(ds("dup1"), "name: dup1,", "name: dup1, name: dup2,", 1))},
			want:  []string{"default/dup2"},
		},
		"a directory: its .yaml, .yml and .json files, not others, not subdirectories": {
			files: map[string][]byte{"d/a.yaml": []byte(ds("ya")), "d/b.yml": []byte(ds("yb")), "d/c.json": []byte(dsJSON("jc", "")),
				"d/notes.txt": []byte(ds("txt")), "d/sub/e.yaml": []byte(ds("deep"))},
			args: []string{"d"},
			want: []string{"default/ya", "default/yb", "default/jc"},
		},
		"a file named explicitly is read whatever its extension": {
			files: map[string][]byte{"agent.txt": []byte(ds("txt"))},
			want:  []string{"default/txt"},
		},
		"a glob": {
			files: map[string][]byte{"g1.yaml": []byte(ds("g1")), "g2.yaml": []byte(ds("g2")), "h.yaml": []byte(ds("h"))},
			args:  []string{"g*.yaml"},
			want:  []string{"default/g1", "default/g2"},
		},
		"--namespace fills and agrees": {
			files: map[string][]byte{"ns.yaml": []byte(ds("plain") + "---\n" + strings.Replace(ds("named"), "metadata: {", "metadata: {namespace: team-a, ", 1))},
			args:  []string{"--namespace", "team-a", "ns.yaml"},
			want:  []string{"team-a/plain", "team-a/named"},
		},
		"without --namespace, metadata.namespace wins": {
			files: map[string][]byte{"ns.yaml": []byte(strings.Replace(ds("elsewhere"), "metadata: {", "metadata: {namespace: other, ", 1))},
			want:  []string{"other/elsewhere"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var all []string
			for f, data := range tc.files {
				p := filepath.Join(dir, f)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(f, "/") {
					all = append(all, f)
				}
			}
			sort.Strings(all)
			args := tc.args
			if args == nil {
				args = all
			}
			var files, checkArgs []string
			namespace, enforce := "default", false
			for i := 0; i < len(args); i++ {
				if args[i] == "--namespace" {
					namespace, enforce = args[i+1], true
					checkArgs = append(checkArgs, args[i], args[i+1])
					i++
					continue
				}
				files = append(files, filepath.Join(dir, args[i]))
				checkArgs = append(checkArgs, filepath.Join(dir, args[i]))
			}
			want, err := kubectlApplies(t, namespace, enforce, files...)
			if err != nil {
				t.Fatalf("kubectl's reader: %v", err)
			}
			gotNames := sortedNames(want)
			if strings.Join(gotNames, " ") != strings.Join(sorted(tc.want), " ") {
				t.Fatalf("the oracle applies %v, the case expects %v", gotNames, tc.want)
			}
			got, r, code, errOut := checkReviews(t, checkArgs...)
			if code == exitUsage {
				t.Fatalf("check: exit 2: %s", errOut)
			}
			if strings.Join(sortedNames(got), " ") != strings.Join(gotNames, " ") {
				t.Fatalf("check reviewed %v, kubectl applies %v", sortedNames(got), gotNames)
			}
			// The same objects: check reviews what kubectl sends.
			for _, res := range r.Results {
				var a, b any
				json.Unmarshal(res.Object, &a)
				json.Unmarshal([]byte(want[res.Namespace+"/"+res.Name]), &b)
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				if string(ja) != string(jb) {
					t.Errorf("%s/%s: check reviewed\n %s\nkubectl sends\n %s", res.Namespace, res.Name, ja, jb)
				}
			}
		})
	}
}

func sortedNames(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// TestCheckNamespaceConflict: like kubectl apply -n, a --namespace that
// contradicts metadata.namespace is an error with kubectl's own words.
func TestCheckNamespaceConflict(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ds.yaml")
	os.WriteFile(f, []byte(ds("a")+"---\n"+strings.Replace(ds("b"), "metadata: {", "metadata: {namespace: other, ", 1)), 0o644)
	_, err := kubectlApplies(t, "foo", true, f)
	want := `the namespace from the provided object "other" does not match the namespace "foo". You must pass '--namespace=other' to perform this operation.`
	if err == nil || err.Error() != want {
		t.Fatalf("kubectl's reader says %v", err)
	}
	code, _, errOut := runCmd(t, "", "check", "--namespace", "foo", f)
	if code != exitUsage || !strings.Contains(errOut, f+": document 2: "+want) {
		t.Fatalf("exit %d, stderr %q; want exit 2 naming the file, the document and kubectl's message", code, errOut)
	}
	// Without --namespace the object's own namespace wins, as with kubectl.
	if code, _, errOut := runCmd(t, "", "check", f); code != exitAllowed {
		t.Fatalf("without --namespace: exit %d %s", code, errOut)
	}
}

// TestCheckReadErrorsNameTheDocument: what kubectl refuses, check refuses
// with exit 2, naming the file and the document.
func TestCheckReadErrorsNameTheDocument(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(data), 0o644)
		return p
	}
	cases := map[string]struct{ file, want string }{
		"a list nested in a list":               {write("nested.yaml", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n"), "nested.yaml: document 1: "},
		"an item with a kind and no apiVersion": {write("noapi.yaml", "apiVersion: v1\nkind: List\nitems:\n- kind: DaemonSet\n  metadata: {name: x}\n"), "noapi.yaml: document 1: "},
		"items that are not a list":             {write("map.yaml", "apiVersion: v1\nkind: List\nitems: {a: b}\n"), "map.yaml: document 1: "},
		"a bad document separator":              {write("sep.yaml", ds("a")+"--- foo\n"+ds("b")), "sep.yaml: document 1: invalid Yaml document separator: foo"},
		"a top-level JSON array":                {write("arr.json", "["+dsJSON("a", "")+"]"), "arr.json: document 1: "},
		"a glob that matches nothing":           {filepath.Join(dir, "none-*.yaml"), "does not exist"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := kubectlApplies(t, "default", false, tc.file); err == nil {
				t.Fatalf("kubectl's reader accepts %s", tc.file)
			}
			code, _, errOut := runCmd(t, "", "check", tc.file)
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 with %q", code, errOut, tc.want)
			}
		})
	}
}

// TestCheckPrintsTheExemption: a denied DaemonSet comes with the
// exemptions[] entry that admits it, scoped to it, and with that entry in
// the policy it is admitted and reported as exempt.
func TestCheckPrintsTheExemption(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "cni.yaml")
	os.WriteFile(manifest, []byte(`apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: cni
  namespace: net
  labels: {app.kubernetes.io/name: cni, app.kubernetes.io/version: "1.2", team: platform}
spec:
  template:
    spec:
      hostPID: true
      initContainers:
      - name: install
        image: cni:1
        volumeMounts: [{name: bin, mountPath: /host/opt/cni/bin}]
      containers: [{name: agent, image: cni:1}]
      volumes: [{name: bin, hostPath: {path: /opt/cni/bin}}]
`), 0o644)
	code, out, _ := runCmd(t, "", "check", "-o", "json", manifest)
	if code != exitDenied {
		t.Fatalf("exit %d", code)
	}
	res := decodeReport(t, out).Results[0]
	e := res.Exemption
	if e == nil {
		t.Fatalf("no exemption for a denied DaemonSet: %s", out)
	}
	got, _ := json.Marshal(e)
	want := `{"namespaces":["net"],"daemonSets":["cni"],"rules":["hostpid-writable-hostpath","writable-sensitive-hostpath"],"reason":"` + policy.ReasonPlaceholder + `"}`
	if string(got) != want {
		t.Fatalf("exemption\n %s\nwant\n %s", got, want)
	}
	// Text output: the same entry, ready to paste.
	_, text, _ := runCmd(t, "", "check", manifest)
	for _, line := range []string{"  to admit it alone, an admin adds to the policy's exemptions: (see " + policy.ExemptionsURL + ")", "    - daemonSets:", "      - cni", "      namespaces:", "      - net", "      - hostpid-writable-hostpath", "      reason: '" + policy.ReasonPlaceholder + "'",
		"  why each rule denied (judge these before exempting it; the exemption's reason should answer them):"} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("text output lacks %q:\n%s", line, text)
		}
	}

	// One line per denying rule says why, for the reason to answer.
	for _, rule := range []string{"hostpid-writable-hostpath", "writable-sensitive-hostpath"} {
		if !strings.Contains(text, "\n    "+rule+": ") {
			t.Errorf("text output has no why line for %s:\n%s", rule, text)
		}
	}

	// Pasted into a policy (keeping kube-system), it admits the DaemonSet,
	// which is reported as exempt by that entry.
	var entry config.Exemption
	json.Unmarshal(got, &entry)
	entry.Reason = "the CNI installs its plugin"
	ej, _ := json.Marshal([]any{map[string]any{"namespaces": []string{"kube-system"}}, entry})
	policyFile := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policyFile, []byte("apiVersion: daemonguard.io/v1alpha1\nkind: Policy\nexemptions: "+string(ej)+"\n"), 0o644)
	code, out, errOut := runCmd(t, "", "check", "-o", "json", "--config", policyFile, manifest)
	if code != exitAllowed {
		t.Fatalf("with the exemption: exit %d %s %s", code, out, errOut)
	}
	res = decodeReport(t, out).Results[0]
	if res.Exemption != nil || len(res.ExemptedBy) != 1 || res.ExemptedBy[0].Index != 1 || res.ExemptedBy[0].Reason != "the CNI installs its plugin" ||
		strings.Join(res.ExemptedBy[0].Rules, ",") != "hostpid-writable-hostpath,writable-sensitive-hostpath" {
		t.Fatalf("exempt result %+v", res)
	}
	_, text, _ = runCmd(t, "", "check", "--config", policyFile, manifest)
	if !strings.Contains(text, "  exempt    by exemptions[1] (the CNI installs its plugin): hostpid-writable-hostpath, writable-sensitive-hostpath\n") {
		t.Fatalf("text output does not report the exemption:\n%s", text)
	}
	// Another DaemonSet in the namespace, with the same labels or none, is
	// still denied.
	data, _ := os.ReadFile(manifest)
	for name, edit := range map[string]func(string) string{
		"same labels": func(s string) string { return strings.ReplaceAll(s, "name: cni\n", "name: other\n") },
		"no labels": func(s string) string {
			s = strings.ReplaceAll(s, "name: cni\n", "name: other\n")
			return strings.ReplaceAll(s, "  labels: {app.kubernetes.io/name: cni, app.kubernetes.io/version: \"1.2\", team: platform}\n", "")
		},
		"a generated name": func(s string) string { return strings.ReplaceAll(s, "name: cni\n", "generateName: cni\n") },
	} {
		other := filepath.Join(dir, "other.yaml")
		os.WriteFile(other, []byte(edit(string(data))), 0o644)
		if code, _, _ := runCmd(t, "", "check", "--config", policyFile, other); code != exitDenied {
			t.Errorf("a DaemonSet with %s in the namespace: exit %d, want 1", name, code)
		}
	}
}

// TestCheckExemptionWithoutAName: a DaemonSet without a fixed name gets no
// entry by name; without labels either, it gets none at all, never one
// that exempts its whole namespace.
func TestCheckExemptionWithoutAName(t *testing.T) {
	data, err := os.ReadFile(examples + "cni-plugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	generated := strings.Replace(string(data), "  name: ", "  generateName: ", 1)
	code, out, _ := runCmd(t, generated, "check", "-o", "json", "-")
	if code != exitDenied {
		t.Fatalf("exit %d: %s", code, out)
	}
	res := decodeReport(t, out).Results[0]
	if res.Exemption != nil || !strings.Contains(res.NoExemption, "no exemption narrower than the whole namespace networking") {
		t.Fatalf("exemption %+v, noExemption %q", res.Exemption, res.NoExemption)
	}
	_, text, _ := runCmd(t, generated, "check", "-")
	if !strings.Contains(text, "  no exemption can admit it alone: it has no fixed name") {
		t.Errorf("text output:\n%s", text)
	}
	// With a fixed name it is named, labels or not.
	code, out, _ = runCmd(t, "", "check", "-o", "json", examples+"cni-plugin.yaml")
	if code != exitDenied {
		t.Fatalf("exit %d", code)
	}
	if e := decodeReport(t, out).Results[0].Exemption; e == nil || e.Selector != nil || len(e.DaemonSets) != 1 {
		t.Fatalf("exemption %+v", e)
	}
}

// TestCheckReadsKeysCaseSensitively: the API server matches keys exactly,
// so neither a folded "nameſpace" nor a capitalised "Kind" beside the real
// keys changes what check judges: the DaemonSet in its real namespace, not
// in an exempt one, and still a DaemonSet.
func TestCheckReadsKeysCaseSensitively(t *testing.T) {
	const sneaky = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: sneaky
  namespace: default
  nameſpace: kube-system
  Namespace: kube-system
spec:
  selector: {matchLabels: {app: s}}
  template:
    metadata: {labels: {app: s}}
    spec:
      containers:
      - {name: a, image: "a:1", volumeMounts: [{name: s, mountPath: /s}]}
      volumes: [{name: s, hostPath: {path: /run/containerd/containerd.sock}}]
`
	for name, doc := range map[string]string{
		"folded namespace key": sneaky,
		"capitalised kind key": strings.Replace(sneaky, "kind: DaemonSet\n", "kind: DaemonSet\nKind: ConfigMap\n", 1),
	} {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "ds.yaml")
			if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCmd(t, "", "check", f)
			if code != exitDenied || !strings.Contains(out, "DaemonSet default/sneaky") {
				t.Fatalf("exit %d, want %d (denied in default, not exempt in kube-system nor skipped)\n%s%s", code, exitDenied, out, errOut)
			}
		})
	}
}

// builderObjects is the reader's objects as it was when it ran the
// resource builder on each document: the oracle of the reader's own
// reimplementation, error for error.
func builderObjects(r *reader, source string, raw []byte) ([]*document, error) {
	var probe struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Items      json.RawMessage `json:"items"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &probe); err != nil {
		return nil, fmt.Errorf("%s: not a Kubernetes object: %w", source, err)
	}
	list := probe.Items != nil
	if !list && (probe.APIVersion == "" || probe.Kind == "") {
		return nil, fmt.Errorf("%s: not a Kubernetes object: apiVersion and kind are required", source)
	}
	b := resource.NewBuilder(offlineGetter{}).
		Unstructured().
		ContinueOnError().
		NamespaceParam(r.namespace).DefaultNamespace()
	if r.enforce {
		b = b.RequireNamespace()
	}
	infos, err := b.Stream(bytes.NewReader(raw), source).Flatten().Do().Infos()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var docs []*document
	for j, info := range infos {
		js, err := runtime.Encode(unstructured.UnstructuredJSONScheme, info.Object)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		name := source
		if list {
			name = fmt.Sprintf("%s item %d", source, j+1)
		}
		d, err := newDocument(name, bytes.TrimSpace(js))
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// namespaceSettings are the --namespace settings the oracle tests read
// under: the default, enforced, and the empty namespace either way.
var namespaceSettings = []reader{{namespace: "default"}, {namespace: "team-a", enforce: true}, {namespace: ""}, {namespace: "", enforce: true}}

// sameAsBuilder fails t unless the reader makes of the JSON document raw
// exactly what the builder made: the same objects, or the same error.
func sameAsBuilder(t *testing.T, raw []byte) {
	t.Helper()
	for _, r := range namespaceSettings {
		got, gotErr := r.objects("f.yaml: document 1", raw)
		want, wantErr := builderObjects(&r, "f.yaml: document 1", raw)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("namespace %q enforced %v, %s:\nerror %v\nthe builder's %v", r.namespace, r.enforce, raw, gotErr, wantErr)
		}
		if len(got) != len(want) {
			t.Fatalf("namespace %q enforced %v, %s:\n%d objects, the builder %d", r.namespace, r.enforce, raw, len(got), len(want))
		}
		for i := range got {
			if got[i].source != want[i].source || string(got[i].json) != string(want[i].json) {
				t.Fatalf("namespace %q enforced %v, %s:\n%s %s\nthe builder's\n%s %s", r.namespace, r.enforce, raw, got[i].source, got[i].json, want[i].source, want[i].json)
			}
		}
	}
}

// firstDocument is the first document of data as readFile reads it, as
// JSON; nil when there is none or it does not parse.
func firstDocument(data []byte) []byte {
	var ext runtime.RawExtension
	if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096).Decode(&ext); err != nil {
		return nil
	}
	raw := bytes.TrimSpace(ext.Raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	return raw
}

// builderDocuments are documents whose reading the builder has rules for:
// lists at every depth, kindless items, namespaces of every scope and type,
// metadata that is not ObjectMeta, errors that aggregate.
var builderDocuments = []string{
	ds("plain"),
	strings.Replace(ds("other"), "metadata: {", "metadata: {namespace: other, ", 1),
	strings.Replace(ds("teama"), "metadata: {", "metadata: {namespace: team-a, ", 1),
	strings.Replace(ds("empty"), "metadata: {", "metadata: {namespace: '', ", 1),
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: ns1, namespace: other}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, namespace: other}\n",
	"apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: p, namespace: other}\nvalue: 5\n",
	"apiVersion: example.com/v1\nkind: ClusterThing\nmetadata: {name: c, namespace: other}\n",
	"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
	"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n",
	"apiVersion: v1\nkind: ConfigMap\n",
	"apiVersion: v1\nkind: ConfigMap\nmetadata: null\n",
	"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: apps/v1, kind: DaemonSet, metadata: {name: a}}\n- {apiVersion: apps/v1, kind: DaemonSet, metadata: {name: b, namespace: other}}\n- {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: r, namespace: other}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: team-a}}\n",
	"apiVersion: v1\nkind: List\nitems: null\n",
	"apiVersion: v1\nkind: List\nitems: []\n",
	"apiVersion: v1\nkind: List\nitems: {a: b}\n",
	"apiVersion: v1\nkind: List\nitems: x\n",
	"apiVersion: v1\nkind: List\nitems: [null]\n",
	"apiVersion: v1\nkind: List\nitems: [5]\n",
	"apiVersion: v1\nkind: List\nitems: [s]\n",
	"apiVersion: v1\nkind: List\nitems: [[]]\n",
	"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: []}\n",
	"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: null}\n",
	"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: {a: b}}\n",
	"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: first}}\n- {apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: List, items: []}]}\n- {kind: NoVersion}\n",
	"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: ConfigMap, metadata: {name: deep}}]}\n",
	"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, items: []}\n",
	"items: []\n",
	"kind: List\nitems: [{apiVersion: v1, kind: ConfigMap, metadata: {name: c}}]\n",
	"apiVersion: v1\nitems: [{apiVersion: v1, kind: ConfigMap, metadata: {name: c}}]\n",
	"apiVersion: a/b/c\nkind: List\nitems: []\n",
	"apiVersion: apps/v1\nkind: DaemonSetList\nmetadata: {resourceVersion: '7'}\nitems:\n- {metadata: {name: kindless}}\n- {kind: Pod, metadata: {name: onlykind}}\n- {apiVersion: v1, metadata: {name: onlyversion}}\n- {apiVersion: a/b/c, kind: Pod, metadata: {name: badversion}}\n- {apiVersion: v1, kind: Pod, metadata: {name: fine}}\n",
	"apiVersion: apps/v1\nkind: DaemonSetList\nitems:\n- {metadata: {name: a, namespace: x}}\n- {metadata: {name: b, namespace: y}}\n- {metadata: {name: c, namespace: x}}\n- {kind: OnlyKind}\n- {kind: OnlyKind}\n",
	"apiVersion: apps/v1\nkind: DaemonSetList\nitems:\n- {metadata: {name: a, namespace: x}}\n- {metadata: {name: b, namespace: x}}\n",
	"apiVersion: apps/v1\nkind: DaemonSetList\nitems:\n- {kind: OnlyKind}\n- {apiVersion: v1}\n",
	"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: n, namespace: 5}}\n- {apiVersion: v1, kind: ConfigMap, metadata: 7}\n- {apiVersion: v1, kind: ConfigMap, metadata: {labels: [x]}}\n- {apiVersion: v1, kind: Namespace, metadata: [1]}\n",
	"apiVersion: v1\nkind: List\nmetadata: {labels: [x]}\nitems: []\n",
	"apiVersion: v1\nkind: List\nmetadata: {namespace: team-a}\nitems: [{apiVersion: v1, kind: ConfigMap}]\n",
	"apiVersion: v1\nkind: ConfigMap\nmetadata: [1]\n",
	"apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: [x]}\n",
	"apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: 5}\n",
	"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {a: b}}\n",
	"apiVersion: a/b/c\nkind: ConfigMap\n",
	"apiVersion: 5\nkind: ConfigMap\n",
	"apiVersion: v1\nkind: 5\n",
	"apiVersion: v1\nKind: ConfigMap\n",
	"apiVersion: v1\nkind: ConfigMap\nItems: []\n",
	ds("with-items") + "items: []\n",
	"[1, 2]\n",
	"just a string\n",
	"5\n",
}

// TestObjectsAreTheBuilders: document by document, the reader makes what
// the resource builder made, or fails with its error.
func TestObjectsAreTheBuilders(t *testing.T) {
	for _, doc := range builderDocuments {
		raw := firstDocument([]byte(doc))
		if raw == nil {
			t.Fatalf("no document in %q", doc)
		}
		sameAsBuilder(t, raw)
	}
}

// TestObjectsAreTheBuildersRandom: the same for generated documents: lists
// in lists, items with and without kinds, namespaces of every sort.
func TestObjectsAreTheBuildersRandom(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	pick := func(xs ...any) any { return xs[rnd.Intn(len(xs))] }
	kinds := [][2]string{{"apps/v1", "DaemonSet"}, {"v1", "ConfigMap"}, {"v1", "Namespace"}, {"rbac.authorization.k8s.io/v1", "ClusterRole"},
		{"example.com/v1", "ClusterThing"}, {"example.com/v1", "Widget"}, {"", "DaemonSet"}, {"apps/v1", ""}, {"a/b/c", "X"},
		{"v1", "List"}, {"apps/v1", "DaemonSetList"}}
	var object func(depth int) any
	object = func(depth int) any {
		if rnd.Intn(12) == 0 {
			return pick(nil, 5, "s", []any{})
		}
		o := map[string]any{}
		k := kinds[rnd.Intn(len(kinds))]
		if rnd.Intn(5) > 0 {
			o["apiVersion"] = k[0]
		}
		if rnd.Intn(5) > 0 {
			o["kind"] = k[1]
		}
		switch rnd.Intn(8) {
		case 0:
		case 1:
			o["metadata"] = pick(nil, "m", []any{1})
		default:
			m := map[string]any{"name": fmt.Sprint("o", rnd.Intn(100))}
			if ns := pick(nil, "", "default", "team-a", "other", 5); ns != nil {
				m["namespace"] = ns
			}
			o["metadata"] = m
		}
		if depth < 3 && (strings.HasSuffix(k[1], "List") || rnd.Intn(6) == 0) {
			var items any
			switch rnd.Intn(6) {
			case 0:
			case 1:
				items = map[string]any{"a": 1}
			default:
				var l []any
				for range rnd.Intn(4) {
					l = append(l, object(depth+1))
				}
				items = l
			}
			o["items"] = items
		}
		return o
	}
	for range 2000 {
		raw, err := json.Marshal(object(0))
		if err != nil {
			t.Fatal(err)
		}
		sameAsBuilder(t, raw)
	}
}

// FuzzObjectsAreTheBuilders: any document, the builder's reading.
func FuzzObjectsAreTheBuilders(f *testing.F) {
	for _, doc := range builderDocuments {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		if raw := firstDocument([]byte(doc)); raw != nil {
			sameAsBuilder(t, raw)
		}
	})
}

// kubectlReads is every object `kubectl apply -f` would send for the files,
// in order, as JSON (the builder of kubectlApplies).
func kubectlReads(namespace string, enforce bool, files ...string) ([]string, error) {
	infos, err := resource.NewBuilder(offlineGetter{}).
		Unstructured().
		ContinueOnError().
		NamespaceParam(namespace).DefaultNamespace().
		FilenameParam(enforce, &resource.FilenameOptions{Filenames: files}).
		Flatten().
		Do().
		Infos()
	var out []string
	for _, info := range infos {
		js, _ := runtime.Encode(unstructured.UnstructuredJSONScheme, info.Object)
		out = append(out, string(bytes.TrimSpace(js)))
	}
	return out, err
}

// TestReaderReadsWhatKubectlApplies: file by file, directory by directory,
// the reader reads every object kubectl would send, in its order, and
// fails where kubectl fails; where kubectl refuses a path, in its words.
func TestReaderReadsWhatKubectlApplies(t *testing.T) {
	list := func(items ...string) string {
		return "apiVersion: v1\nkind: List\nitems:\n- " + strings.Join(items, "\n- ") + "\n"
	}
	cases := map[string]struct {
		files     map[string]string
		symlinks  map[string]string // name: target
		args      []string          // default: every top-level file, sorted
		namespace string            // enforced when set
		wantErr   bool
		pathErr   bool // the error is about the path, word for word kubectl's
	}{
		"cluster-scoped kinds lose their namespace, others get one": {files: map[string]string{"a.yaml": ds("d") +
			"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns1, namespace: other}\n---\napiVersion: example.com/v1\nkind: ClusterThing\nmetadata: {name: c, namespace: other}\n" +
			"---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: p}\nvalue: 1\n"}},
		"cluster-scoped kinds in another namespace under --namespace": {files: map[string]string{"a.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, namespace: other}\n" +
			"---\n" + list("{apiVersion: v1, kind: Namespace, metadata: {name: ns1, namespace: other}}", "{apiVersion: v1, kind: ConfigMap, metadata: {name: c}}")},
			namespace: "team-a"},
		"a namespace conflict in a list": {files: map[string]string{"a.yaml": list("{apiVersion: v1, kind: ConfigMap, metadata: {name: c}}", "{apiVersion: v1, kind: ConfigMap, metadata: {name: d, namespace: other}}")},
			namespace: "team-a", wantErr: true},
		"a namespace conflict in a later document": {files: map[string]string{"a.yaml": ds("a") + "---\n" + strings.Replace(ds("b"), "metadata: {", "metadata: {namespace: other, ", 1)},
			namespace: "team-a", wantErr: true},
		"items: null, items: [] and kindless items": {files: map[string]string{"a.yaml": "apiVersion: v1\nkind: List\nitems: null\n---\napiVersion: v1\nkind: List\nitems: []\n---\n" +
			"apiVersion: apps/v1\nkind: DaemonSetList\nitems: [{metadata: {name: kindless}}, null]\n"}},
		"a nested list": {files: map[string]string{"a.yaml": list("{apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: ConfigMap, metadata: {name: c}}]}")}, wantErr: true},
		"a nested list with items: null is an object": {files: map[string]string{"a.yaml": list("{apiVersion: v1, kind: List, metadata: {name: l}, items: null}")}},
		"an untyped item": {files: map[string]string{"a.yaml": list("{kind: ConfigMap, metadata: {name: c}}", "{apiVersion: v1, kind: ConfigMap, metadata: {name: d}}")}, wantErr: true},
		"empty documents, comments, a file of nothing": {files: map[string]string{"a.yaml": "# nothing\n---\n---\n\n...\n", "b.yaml": "", "c.json": "  \n",
			"d.yaml": "---\n" + ds("after-empties") + "---\n# trailing\n"}},
		"byte-order marks in every encoding": {files: map[string]string{"a.yaml": "\ufeff" + ds("bom8") + "---\n" + list("{apiVersion: v1, kind: ConfigMap, metadata: {name: c}}"),
			"b.yaml": string(utf16File(list("{apiVersion: v1, kind: ConfigMap, metadata: {name: le}}"), false)),
			"c.json": string(utf16File(dsJSON("be16", ""), true))}},
		"a directory, not recursively, by exact extension": {files: map[string]string{"d/a.yaml": ds("ya"), "d/b.yml": ds("yb"), "d/c.json": dsJSON("jc", ""),
			"d/UP.YAML": ds("upper"), "d/noext": ds("noext"), "d/x.yaml.txt": ds("txt"), "d/sub/e.yaml": ds("deep"), "d/.hidden.yaml": ds("hidden")},
			args: []string{"d"}},
		"directories and files, in the order named": {files: map[string]string{"d/b.yaml": ds("db"), "d/a.yaml": ds("da"), "z.txt": ds("z")}, args: []string{"z.txt", "d", "z.txt"}},
		"a glob of directories and files":           {files: map[string]string{"g1/a.yaml": ds("g1a"), "g2.yaml": ds("g2"), "g3/sub/b.yaml": ds("deep")}, args: []string{"g*"}},
		"a symlink in a directory is read as a file": {files: map[string]string{"d/a.yaml": ds("a"), "t/real.txt": ds("linked")},
			symlinks: map[string]string{"d/link.yaml": "../t/real.txt", "d/dirlink.yaml": "../t"}, args: []string{"d"}, wantErr: true},
		"a symlink to a file":             {files: map[string]string{"t/real.txt": ds("linked")}, symlinks: map[string]string{"link": "t/real.txt"}, args: []string{"link"}},
		"a symlink to a directory, named": {files: map[string]string{"t/a.yaml": ds("a")}, symlinks: map[string]string{"link": "t"}, args: []string{"link"}, wantErr: true},
		"an empty directory first":        {files: map[string]string{"e/notes.txt": "x", "a.yaml": ds("a")}, args: []string{"e", "a.yaml"}, wantErr: true, pathErr: true},
		"an empty directory after a file": {files: map[string]string{"e/notes.txt": "x", "a.yaml": ds("a")}, args: []string{"a.yaml", "e"}},
		"a glob of empty directories":     {files: map[string]string{"e1/notes.txt": "x", "e2/notes.txt": "x"}, args: []string{"e*"}, wantErr: true, pathErr: true},
		"a missing file":                  {files: map[string]string{"a.yaml": ds("a")}, args: []string{"a.yaml", "missing.yaml"}, wantErr: true, pathErr: true},
		"a glob that matches nothing":     {files: map[string]string{"a.yaml": ds("a")}, args: []string{"none-*.yaml"}, wantErr: true, pathErr: true},
		"a bad pattern":                   {files: map[string]string{"a.yaml": ds("a")}, args: []string{"[.yaml"}, wantErr: true, pathErr: true},
		"a dangling symlink":              {symlinks: map[string]string{"dangling.yaml": "nowhere"}, args: []string{"dangling.yaml"}, wantErr: true, pathErr: true},
		"a file kubectl cannot decode":    {files: map[string]string{"a.yaml": ds("a") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {labels: [x]}\n"}, wantErr: true},
		"namespaces that agree with --namespace": {files: map[string]string{"a.yaml": ds("a") + "---\n" + strings.Replace(ds("b"), "metadata: {", "metadata: {namespace: team-a, ", 1) +
			"---\n" + list("{apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: team-a}}", "{apiVersion: v1, kind: ConfigMap, metadata: {name: d}}")}, namespace: "team-a"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var all []string
			for f, data := range tc.files {
				p := filepath.Join(dir, f)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(f, "/") {
					all = append(all, f)
				}
			}
			for l, target := range tc.symlinks {
				if err := os.Symlink(target, filepath.Join(dir, l)); err != nil {
					t.Fatal(err)
				}
			}
			sort.Strings(all)
			args := tc.args
			if args == nil {
				args = all
			}
			var files []string
			for _, a := range args {
				files = append(files, filepath.Join(dir, a))
			}
			namespace := tc.namespace
			if namespace == "" {
				namespace = "default"
			}
			want, wantErr := kubectlReads(namespace, tc.namespace != "", files...)
			if (wantErr != nil) != tc.wantErr {
				t.Fatalf("the oracle: error %v, the case expects one: %v", wantErr, tc.wantErr)
			}
			r := &reader{namespace: namespace, enforce: tc.namespace != ""}
			var got []string
			var err error
			for _, f := range files {
				var docs []*document
				if docs, err = r.read(f); err != nil {
					break
				}
				for _, d := range docs {
					got = append(got, string(d.json))
				}
			}
			switch {
			case wantErr != nil && err == nil:
				t.Fatalf("the reader read %v; kubectl refuses: %v", got, wantErr)
			case wantErr == nil && err != nil:
				t.Fatalf("the reader refuses: %v; kubectl reads %v", err, want)
			case tc.pathErr && err.Error() != wantErr.Error():
				t.Fatalf("the reader says\n %v\nkubectl says\n %v", err, wantErr)
			case wantErr == nil && strings.Join(got, "\n") != strings.Join(want, "\n"):
				t.Fatalf("the reader read\n %s\nkubectl reads\n %s", strings.Join(got, "\n "), strings.Join(want, "\n "))
			}
		})
	}
}

// TestCheckRefusesAnEmptyDirectory: as kubectl does, check refuses a first
// path that holds no manifest file, and says which extensions it reads.
func TestCheckRefusesAnEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte(ds("txt")), 0o644)
	code, _, errOut := runCmd(t, "", "check", dir)
	if want := "error reading [" + dir + "]: recognized file extensions are [.json .yaml .yml]"; code != exitUsage || !strings.Contains(errOut, want) {
		t.Fatalf("exit %d, stderr %q; want exit 2 with %q", code, errOut, want)
	}
}
