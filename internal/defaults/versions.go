package defaults

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The supported kube-apiserver minor versions (1.Oldest to 1.Newest): DaemonSet
// ports Newest's defaulting; make test runs the control-plane suites on both.
const (
	Oldest = 30
	Newest = 37
)

// NewerField is a DaemonSet field the rules read that the older supported
// API servers do not keep with their default feature gates: the field did
// not exist yet, or its gate was off, so the server drops it (or resets it)
// before any webhook is called, and the node never gets it. Defaulting
// itself is the same from 1.30 to 1.37 on the DaemonSets the rules judge;
// these fields are what differs.
type NewerField struct {
	// Path names the field as the rules do, with [*] for every element.
	Path string
	// KeptFrom is the first minor version whose API server keeps it.
	KeptFrom int
	// KnownFrom is the first minor version that knows the field at all
	// (0: every supported one); older servers drop it with their own
	// "unknown field" warning.
	KnownFrom int
	// ResetTo is what the server writes instead ("" drops the field).
	ResetTo string
	// Why, from k8s.io/kubernetes pkg/features (v1.37.2).
	Why string
}

// NewerFields are the fields of NewerField.
var NewerFields = []NewerField{
	{Path: "spec.template.spec.securityContext.supplementalGroupsPolicy", KeptFrom: 33, KnownFrom: 31,
		Why: "added in 1.31 behind SupplementalGroupsPolicy (alpha, off); on by default from 1.33"},
	{Path: "spec.template.spec.hostUsers", KeptFrom: 33,
		Why: "UserNamespacesSupport is off by default until 1.33"},
	{Path: "spec.template.spec.containers[*].volumeMounts[*].recursiveReadOnly", KeptFrom: 31,
		Why: "RecursiveReadOnlyMounts is alpha (off) in 1.30, on by default from 1.31"},
	{Path: "spec.template.spec.initContainers[*].volumeMounts[*].recursiveReadOnly", KeptFrom: 31,
		Why: "RecursiveReadOnlyMounts is alpha (off) in 1.30, on by default from 1.31"},
	{Path: "spec.template.spec.containers[*].securityContext.procMount", KeptFrom: 33, ResetTo: string(corev1.DefaultProcMount),
		Why: "ProcMountType is off by default until 1.33: the API server resets procMount to Default"},
	{Path: "spec.template.spec.initContainers[*].securityContext.procMount", KeptFrom: 33, ResetTo: string(corev1.DefaultProcMount),
		Why: "ProcMountType is off by default until 1.33: the API server resets procMount to Default"},
}

// ParseVersion reads a kube-apiserver version ("1.30", "v1.30.14") as its
// minor version, which must be a supported one.
func ParseVersion(s string) (int, error) {
	v := strings.TrimPrefix(s, "v")
	major, rest, ok := strings.Cut(v, ".")
	minorText, _, _ := strings.Cut(rest, ".")
	minor, err := strconv.Atoi(minorText)
	if !ok || major != "1" || err != nil {
		return 0, fmt.Errorf("kube-apiserver version %q: want 1.<minor>, as 1.30 or v1.30.14", s)
	}
	if minor < Oldest || minor > Newest {
		return 0, fmt.Errorf("kube-apiserver version %q: supported are 1.%d to 1.%d", s, Oldest, Newest)
	}
	return minor, nil
}

// AsServerKeeps changes ds as kube-apiserver 1.<minor> with its default
// feature gates does with the NewerFields it does not keep, and returns the
// fields it changed. For Newest (or 0) it changes nothing.
func AsServerKeeps(ds *appsv1.DaemonSet, minor int) []string {
	if minor == 0 || minor >= Newest {
		return nil
	}
	var changed []string
	kept := func(path string) bool {
		for _, f := range NewerFields {
			if f.Path == path {
				return minor >= f.KeptFrom
			}
		}
		panic("defaults: no NewerField " + path)
	}
	spec := &ds.Spec.Template.Spec
	const tmpl = "spec.template.spec."
	if sc := spec.SecurityContext; sc != nil && sc.SupplementalGroupsPolicy != nil && !kept(tmpl+"securityContext.supplementalGroupsPolicy") {
		sc.SupplementalGroupsPolicy = nil
		changed = append(changed, tmpl+"securityContext.supplementalGroupsPolicy")
	}
	if spec.HostUsers != nil && !kept(tmpl+"hostUsers") {
		spec.HostUsers = nil
		changed = append(changed, tmpl+"hostUsers")
	}
	for _, list := range []struct {
		name       string
		containers []corev1.Container
	}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}} {
		for i := range list.containers {
			c := &list.containers[i]
			at := fmt.Sprintf("%s%s[%d].", tmpl, list.name, i)
			if !kept(tmpl + list.name + "[*].volumeMounts[*].recursiveReadOnly") {
				for j := range c.VolumeMounts {
					if c.VolumeMounts[j].RecursiveReadOnly != nil {
						c.VolumeMounts[j].RecursiveReadOnly = nil
						changed = append(changed, fmt.Sprintf("%svolumeMounts[%d].recursiveReadOnly", at, j))
					}
				}
			}
			if sc := c.SecurityContext; sc != nil && sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount &&
				!kept(tmpl+list.name+"[*].securityContext.procMount") {
				pm := corev1.DefaultProcMount
				sc.ProcMount = &pm
				changed = append(changed, at+"securityContext.procMount")
			}
		}
	}
	return changed
}

// NewerFieldAt is the NewerField that the concrete path (indexes instead
// of [*]) is, if any.
func NewerFieldAt(path string) (NewerField, bool) {
	for _, f := range NewerFields {
		if matchPath(f.Path, path) {
			return f, true
		}
	}
	return NewerField{}, false
}

// matchPath reports whether a concrete field path (with indexes) is
// pattern (with [*]).
func matchPath(pattern, path string) bool {
	parts, rest := strings.Split(pattern, "[*]"), path
	for i, part := range parts {
		r, ok := strings.CutPrefix(rest, part)
		if !ok {
			return false
		}
		if i == len(parts)-1 {
			return r == ""
		}
		end := strings.Index(r, "]")
		if !strings.HasPrefix(r, "[") || end < 0 {
			return false
		}
		if _, err := strconv.Atoi(r[1:end]); err != nil {
			return false
		}
		rest = r[end+1:]
	}
	return false
}
