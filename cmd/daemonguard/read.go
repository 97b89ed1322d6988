package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured/unstructuredscheme"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
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

// reader reads manifest files the way `kubectl apply -f` does: what
// k8s.io/cli-runtime's resource builder does for files, offline, without the
// builder (it links kustomize and client-go's discovery). What kubectl does,
// check does: directories (their .json, .yaml and .yml files, not
// recursively) and globs, UTF-8 and UTF-16 byte-order marks, YAML and JSON
// streams, YAML anchors and merge keys, duplicate keys (the last wins), any
// document with an items array read as a list of its items (one level deep),
// namespaces defaulted, and a --namespace that contradicts metadata.namespace
// refused. read_test.go holds the builder to this.
type reader struct {
	stdin io.Reader
	// namespace is the namespace of objects that name none; enforce is
	// kubectl's EnforceNamespace, true when --namespace was given.
	namespace string
	enforce   bool
	// found counts the files named so far: like kubectl, a first name that
	// holds no manifest file is an error.
	found int
}

// read returns the objects in the file, directory or glob name ("-" is stdin).
func (r *reader) read(name string) ([]*document, error) {
	files, err := r.expandPaths(name)
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

// fileExtensions are the files kubectl reads in a directory.
var fileExtensions = []string{".json", ".yaml", ".yml"}

// expandPaths is kubectl's FilenameParam path expansion: a name that does
// not exist is a glob; a directory holds its files with kubectl's
// extensions; a file named explicitly is read whatever its extension.
func (r *reader) expandPaths(name string) ([]string, error) {
	if name == "-" {
		r.found++
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
		if _, err := os.Stat(m); os.IsNotExist(err) {
			return nil, fmt.Errorf("the path %q does not exist", m)
		} else if err != nil {
			return nil, fmt.Errorf("the path %q cannot be accessed: %v", m, err)
		}
		// Walk, not ReadDir: Walk does not follow a symlink, so kubectl
		// reads one named in a directory, or named itself, as a file.
		err := filepath.Walk(m, func(path string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if fi.IsDir() {
				if path != m {
					return filepath.SkipDir
				}
				return nil
			}
			if path != m && !slices.Contains(fileExtensions, filepath.Ext(path)) {
				return nil
			}
			files = append(files, path)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("error reading %q: %v", m, err)
		}
	}
	r.found += len(files)
	if r.found == 0 {
		return nil, fmt.Errorf("error reading %v: recognized file extensions are %v", matches, fileExtensions)
	}
	return files, nil
}

// readFile splits one file into documents exactly as the builder's
// FileVisitor and StreamVisitor do (byte-order marks, then
// NewYAMLOrJSONDecoder, empty and null documents skipped), counting them so
// that errors and results can say "document N".
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

// objects returns what kubectl would send for one document.
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
	objs, err := r.build(source, raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var docs []*document
	for j, obj := range objs {
		js, err := runtime.Encode(unstructured.UnstructuredJSONScheme, obj)
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

// metadataOnlyObject is what the builder's decoder also reads a document
// into, to refuse metadata that is not ObjectMeta; the name is in its errors.
type metadataOnlyObject struct {
	metav1.TypeMeta   `json:""`
	metav1.ObjectMeta `json:"metadata,omitempty"`
}

var typer = unstructuredscheme.NewUnstructuredObjectTyper()

// build is what kubectl apply's resource builder (Unstructured,
// ContinueOnError, DefaultNamespace, RequireNamespace when enforcing,
// Flatten) makes of one document, with the builder's error, in its words.
func (r *reader) build(source string, raw []byte) ([]*unstructured.Unstructured, error) {
	obj, _, err := unstructured.UnstructuredJSONScheme.Decode(raw, nil, nil)
	if err == nil {
		err = utiljson.Unmarshal(raw, &metadataOnlyObject{})
	}
	if err != nil {
		return nil, fmt.Errorf("unable to decode %q: %v", source, err)
	}
	var objs []*unstructured.Unstructured
	// The builder reports namespace errors as it meets them, and the
	// items it cannot type after them (they come back from Flatten).
	var errs, untyped []error
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		objs = []*unstructured.Unstructured{o}
	case *unstructured.UnstructuredList:
		// Flatten extracts the items of a list item too, which fails (an
		// Unstructured has no Items field) and loses the whole document.
		for i := range o.Items {
			if o.Items[i].IsList() {
				_, err := meta.ExtractList(&o.Items[i])
				return nil, err
			}
		}
		for i := range o.Items {
			item := &o.Items[i]
			if _, _, err := typer.ObjectKinds(item); err != nil {
				untyped = append(untyped, fmt.Errorf("unable to get type info from the object %q: %v", reflect.TypeOf(item), err))
				continue
			}
			objs = append(objs, item)
		}
	}
	kept := objs[:0]
	for _, o := range objs {
		if err := r.setNamespace(o); err != nil {
			errs = append(errs, err)
			continue
		}
		kept = append(kept, o)
	}
	errs = append(errs, untyped...)
	switch len(errs) {
	case 0:
		return kept, nil
	case 1:
		return nil, errs[0]
	}
	return nil, utilerrors.NewAggregate(errs)
}

// setNamespace is the builder's SetNamespace, RequireNamespace (when
// enforcing) and FilterNamespace, in that order, on one object.
func (r *reader) setNamespace(o *unstructured.Unstructured) error {
	if !namespaced(o.GroupVersionKind().GroupKind()) {
		o.SetNamespace("") // a cluster-scoped object's namespace is dropped
		return nil
	}
	ns := o.GetNamespace()
	if ns == "" {
		ns = r.namespace
		o.SetNamespace(ns)
	}
	if r.enforce && ns != r.namespace {
		//lint:ignore ST1005 kubectl's message, word for word
		return fmt.Errorf("the namespace from the provided object %q does not match the namespace %q. You must pass '--namespace=%s' to perform this operation.", ns, r.namespace, ns)
	}
	return nil
}

// clusterScoped is the scope kubectl's REST mapper would give, without a
// cluster: the cluster-scoped kinds manifests commonly hold, and any kind
// named Cluster*; everything else is namespaced, like the CRDs of most
// agents.
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

func namespaced(gk schema.GroupKind) bool {
	return !clusterScoped[gk] && !strings.HasPrefix(gk.Kind, "Cluster")
}
