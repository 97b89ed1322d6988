package review

import (
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Operation is one RFC 6902 JSON patch operation. daemonguard only ever adds:
// mutators fill what is missing and never change or remove what is there.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// annotationPath is the JSON pointer of the injected-fields annotation.
func annotationPath(key string) string { return "/metadata/annotations/" + escape(key) }

// Patch returns the operations that turn the object v was decoded from into
// ds, for the fields daemonguard mutates. v must be the View ds was built
// from, unchanged since, and complete (View.Complete).
func Patch(v *View, ds *appsv1.DaemonSet, annotation string) []Operation {
	// Room for the common case, the annotation and a field or two, in one
	// allocation.
	ops := make([]Operation, 0, 4)
	if after, ok := ds.Annotations[annotation]; ok {
		before, had := v.meta().Annotations[annotation]
		switch {
		case had && before == after:
		case v.meta().Annotations == nil:
			ops = append(ops, Operation{"add", "/metadata/annotations", map[string]string{annotation: after}})
		default:
			ops = append(ops, Operation{"add", annotationPath(annotation), after})
		}
	}
	const spec = "/spec/template/spec"
	s, after := v.pod(), &ds.Spec.Template.Spec
	if n := len(s.Tolerations); len(after.Tolerations) > n {
		if n == 0 {
			ops = append(ops, Operation{"add", spec + "/tolerations", after.Tolerations})
		} else {
			for i := n; i < len(after.Tolerations); i++ {
				ops = append(ops, Operation{"add", spec + "/tolerations/-", after.Tolerations[i]})
			}
		}
	}
	if s.PriorityClassName == "" && after.PriorityClassName != "" {
		ops = append(ops, Operation{"add", spec + "/priorityClassName", after.PriorityClassName})
	}
	ops = resourceOps(ops, spec+"/initContainers/", s.InitContainers, after.InitContainers)
	ops = resourceOps(ops, spec+"/containers/", s.Containers, after.Containers)
	if len(ops) == 0 {
		return nil
	}
	return ops
}

func resourceOps(ops []Operation, prefix string, before []containerView, after []corev1.Container) []Operation {
	for i := range before {
		b, a := before[i].Resources, &after[i].Resources
		// Paths are built only for what changed: most containers of an
		// admitted DaemonSet already set their resources.
		if b == nil {
			if len(a.Requests) > 0 || len(a.Limits) > 0 {
				ops = append(ops, Operation{"add", prefix + strconv.Itoa(i) + "/resources", a})
			}
			continue
		}
		ops = listOps(ops, prefix, i, "/resources/requests", b.Requests, a.Requests)
		ops = listOps(ops, prefix, i, "/resources/limits", b.Limits, a.Limits)
	}
	return ops
}

// listOps adds what after has beyond before, at prefix + index + list.
func listOps(ops []Operation, prefix string, index int, list string, before, after corev1.ResourceList) []Operation {
	if len(after) == len(before) {
		return ops
	}
	at := prefix + strconv.Itoa(index) + list
	if len(before) == 0 {
		return append(ops, Operation{"add", at, after})
	}
	names := make([]string, 0, len(after)-len(before))
	for name := range after {
		if _, ok := before[name]; !ok {
			names = append(names, string(name))
		}
	}
	sort.Strings(names)
	for _, name := range names {
		ops = append(ops, Operation{"add", at + "/" + escape(name), after[corev1.ResourceName(name)]})
	}
	return ops
}

// escape encodes a map key as one JSON pointer token (RFC 6901).
func escape(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}
