package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	kjson "sigs.k8s.io/json"
	"strings"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// document is one object kubectl would send to the API server for a file,
// as JSON: the object after kubectl's own reading (lists flattened, the
// namespace defaulted), not the bytes as written.
type document struct {
	source string // "FILE: document N" (and "item M" inside a list)
	json   []byte
	meta   struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
}

// newDocument is the object js read from source.
func newDocument(source string, js []byte) (*document, error) {
	d := &document{source: source, json: js}
	// Case-sensitive, as the API server reads keys: encoding/json would
	// also take "Kind" or "nameſpace" (Unicode folding) for kind and
	// namespace, which the API server ignores.
	if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &d.meta); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return d, nil
}

func (d *document) isDaemonSet() bool {
	return d.meta.APIVersion == "apps/v1" && d.meta.Kind == "DaemonSet"
}

// reader reads manifest files the way `kubectl apply -f` does, with
// k8s.io/cli-runtime's resource builder, offline. What kubectl does, check
// does: directories (their .json, .yaml and .yml files, not recursively) and
// globs, UTF-8 and UTF-16 byte-order marks, YAML and JSON streams, YAML
// anchors and merge keys, duplicate keys (the last wins), any document with
// an items array read as a list of its items (one level deep), namespaces
// defaulted, and a --namespace that contradicts metadata.namespace refused.
type reader struct {
	stdin io.Reader
	// namespace is the namespace of objects that name none; enforce is
	// kubectl's EnforceNamespace, true when --namespace was given.
	namespace string
	enforce   bool
}

// read returns the objects in the file, directory or glob name ("-" is stdin).
func (r *reader) read(name string) ([]*document, error) {
	files, err := expandPaths(name)
	if err != nil {
		return nil, err
	}
	var docs []*document
	for _, f := range files {
		d, err := r.readFile(f)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

// expandPaths is kubectl's FilenameParam path expansion: a name that does
// not exist is a glob; a directory holds its files with kubectl's
// extensions; a file named explicitly is read whatever its extension.
func expandPaths(name string) ([]string, error) {
	if name == "-" {
		return []string{name}, nil
	}
	matches := []string{name}
	if _, err := os.Stat(name); os.IsNotExist(err) {
		matches, err = filepath.Glob(name)
		if err != nil {
			return nil, fmt.Errorf("pattern %q is not valid: %v", name, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("the path %q does not exist", name)
		}
	}
	var files []string
	for _, m := range matches {
		// The builder's own expansion; its visitors are only asked their path.
		visitors, err := resource.ExpandPathsToFileVisitors(nil, m, false, resource.FileExtensions, nil)
		if err != nil {
			return nil, err
		}
		for _, v := range visitors {
			files = append(files, v.(*resource.FileVisitor).Path)
		}
	}
	return files, nil
}

// readFile splits one file into documents exactly as the builder's
// FileVisitor and StreamVisitor do (byte-order marks, then
// NewYAMLOrJSONDecoder, empty and null documents skipped), counting them so
// that errors and results can say "document N"; the builder itself then
// reads each document.
func (r *reader) readFile(path string) ([]*document, error) {
	var in io.Reader
	source := path
	if path == "-" {
		in, source = r.stdin, "<stdin>"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	}
	in = transform.NewReader(in, unicode.BOMOverride(unicode.UTF8.NewDecoder()))
	dec := utilyaml.NewYAMLOrJSONDecoder(in, 4096)
	var docs []*document
	for i := 1; ; i++ {
		var ext runtime.RawExtension
		if err := dec.Decode(&ext); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		raw := bytes.TrimSpace(ext.Raw)
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			continue // a document of comments only
		}
		d, err := r.objects(fmt.Sprintf("%s: document %d", source, i), raw)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
}

// objects reads one document with the resource builder as kubectl apply
// configures it (ApplyOptions.GetObjects), and returns what kubectl would send.
func (r *reader) objects(source string, raw []byte) ([]*document, error) {
	var probe struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Items      json.RawMessage `json:"items"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &probe); err != nil {
		return nil, fmt.Errorf("%s: not a Kubernetes object: %w", source, err)
	}
	// The unstructured decoder reads any document with an items key, even
	// items: null, as a list.
	list := probe.Items != nil
	if !list && (probe.APIVersion == "" || probe.Kind == "") {
		return nil, fmt.Errorf("%s: not a Kubernetes object: apiVersion and kind are required", source)
	}
	b := resource.NewBuilder(offlineGetter{}).
		Unstructured(). // before Stream: each visitor keeps the decoder it was built with
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

// offlineGetter gives the builder what a non-local kubectl run has, without
// a cluster: a REST mapper (so namespaces are defaulted and enforced by
// scope, as kubectl does) and a REST config that is never dialled. File
// input never fetches: the builder only retrieves objects it did not read.
type offlineGetter struct{}

func (offlineGetter) ToRESTConfig() (*rest.Config, error) {
	return &rest.Config{Host: "https://offline.invalid"}, nil
}

func (offlineGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return nil, errors.New("daemonguard check is offline: it reads files, not resources or categories from a cluster")
}

func (offlineGetter) ToRESTMapper() (meta.RESTMapper, error) { return staticMapper{}, nil }

// staticMapper maps every kind without discovery: the resource guessed from
// the kind, the scope from a table of the cluster-scoped kinds manifests
// commonly hold (everything else is namespaced, like the CRDs of most agents).
type staticMapper struct{ meta.RESTMapper } // the builder calls only RESTMapping for files

var clusterScoped = map[schema.GroupKind]bool{
	{Kind: "Namespace"}: true, {Kind: "Node"}: true, {Kind: "PersistentVolume"}: true, {Kind: "ComponentStatus"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                         true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:                  true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                               true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                   true,
	{Group: "storage.k8s.io", Kind: "CSIDriver"}:                                      true,
	{Group: "storage.k8s.io", Kind: "CSINode"}:                                        true,
	{Group: "storage.k8s.io", Kind: "VolumeAttachment"}:                               true,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                      true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:                 true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: true,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                             true,
	{Group: "certificates.k8s.io", Kind: "CertificateSigningRequest"}:                 true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                                true,
	{Group: "policy", Kind: "PodSecurityPolicy"}:                                      true,
	{Group: "cert-manager.io", Kind: "ClusterIssuer"}:                                 true,
}

func (staticMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	gvk := gk.WithVersion("")
	if len(versions) > 0 {
		gvk.Version = versions[0]
	}
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	scope := meta.RESTScopeNamespace
	if clusterScoped[gk] || strings.HasPrefix(gk.Kind, "Cluster") {
		scope = meta.RESTScopeRoot
	}
	return &meta.RESTMapping{Resource: plural, GroupVersionKind: gvk, Scope: scope}, nil
}
