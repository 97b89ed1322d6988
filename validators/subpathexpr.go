package validators

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// What a subPathExpr can expand to on the node. The kubelet expands it over
// the container's final environment (kubecontainer.ExpandContainerVolumeMounts)
// and then refuses an absolute result and any ".." component
// (pkg/kubelet/kubelet_pods.go makeMounts: ValidatePathNoBacksteps), and it
// refuses an undefined or empty variable; so an expansion never leaves the
// directory its literal leading components name. What a variable holds
// decides how far inside that directory it reaches:
//
//   - a literal env value: exactly that text;
//   - a downward-API value that is always one path component — a pod or
//     node name, a namespace, a uid, a label value, an IP, a resource
//     quantity: never empty, ".", ".." nor holding "/" (their API
//     validation says so) — names one child of the directory;
//   - anything else (an annotation, a ConfigMap or Secret key, envFrom, a
//     service link, a name nothing defines) may be "." or hold "/", so it
//     may reach the directory itself and anything below it.

// valueKind is how much is known of a variable's value.
type valueKind int

const (
	literalValue   valueKind = iota // known exactly
	componentValue                  // one path component, never "." or ".."
	arbitraryValue                  // anything without ".." components
)

// subPathReach is where an expanded subPathExpr lands, relative to the
// volume's path.
type subPathReach struct {
	// Dir is the literal directory the expansion cannot leave ("" for the
	// volume itself).
	Dir string
	// Known is set when the whole expansion is literal: Dir is then the
	// complete subPath.
	Known bool
	// Child is set when the unknown part starts a new path component after
	// Prefix (literal text): the mount reaches one child of Dir whose name
	// starts with Prefix, never Dir itself. Otherwise (Known unset) it may
	// reach Dir itself and anything below it.
	Child  bool
	Prefix string
}

// expandSubPathExpr expands expr the way the kubelet does, from what the
// manifest fixes: literal env values, and the downward-API fields whose
// values are always one path component.
func expandSubPathExpr(expr string, ds *appsv1.DaemonSet, env []corev1.EnvVar) subPathReach {
	values, kinds := envValues(ds, env)
	lookup := func(name string) (string, valueKind) {
		for i := len(env) - 1; i >= 0; i-- {
			if env[i].Name == name {
				return values[i], kinds[i]
			}
		}
		// envFrom, a service link or nothing: any value, or none (then
		// the kubelet refuses to start the container).
		return "", arbitraryValue
	}
	text, kind := expand(expr, lookup)
	if kind == literalValue {
		return subPathReach{Dir: text, Known: true}
	}
	dir, prefix := "", text
	if i := strings.LastIndexByte(text, '/'); i >= 0 {
		dir, prefix = text[:i], text[i+1:]
	}
	// An arbitrary value that starts a component may be ".": then it names
	// the directory itself.
	return subPathReach{Dir: dir, Child: kind == componentValue || prefix != "", Prefix: prefix}
}

// envValues expands every env entry of a container as the kubelet does (a
// literal value may refer to variables defined before it; the last
// definition of a name wins) and says how much is known of each.
func envValues(ds *appsv1.DaemonSet, env []corev1.EnvVar) ([]string, []valueKind) {
	values := make([]string, len(env))
	kinds := make([]valueKind, len(env))
	for i := range env {
		e := &env[i]
		if e.ValueFrom != nil {
			values[i], kinds[i] = downwardValue(ds, e.ValueFrom)
			continue
		}
		before := func(name string) (string, valueKind) {
			for j := i - 1; j >= 0; j-- {
				if env[j].Name == name {
					return values[j], kinds[j]
				}
			}
			return "", arbitraryValue
		}
		text, kind := expand(e.Value, before)
		if kind != literalValue {
			// Only the known head is kept: what follows an unknown
			// variable in a value is not followed further.
			kind = arbitraryValue
		}
		values[i], kinds[i] = text, kind
	}
	return values, kinds
}

// downwardValue is what is known of a valueFrom: the namespace of a
// DaemonSet that names one is literal; the other fieldRefs whose values API
// validation keeps to one DNS label, subdomain, UUID or IP, and every
// resourceFieldRef (a number), are one path component; the rest is
// arbitrary.
func downwardValue(ds *appsv1.DaemonSet, from *corev1.EnvVarSource) (string, valueKind) {
	if from.ResourceFieldRef != nil {
		return "", componentValue
	}
	if from.FieldRef == nil {
		return "", arbitraryValue
	}
	p := from.FieldRef.FieldPath
	switch {
	case p == "metadata.namespace" && ds.Namespace != "":
		return ds.Namespace, literalValue
	case p == "metadata.name":
		// The DaemonSet controller names its pods GenerateName
		// "<name>-" plus five characters, the prefix cut to 58
		// (controller.GetPodFromTemplate, names.SimpleNameGenerator).
		return podNamePrefix(ds.Name), componentValue
	case p == "metadata.namespace", p == "metadata.uid",
		p == "spec.nodeName", p == "spec.serviceAccountName",
		p == "status.hostIP", p == "status.hostIPs", p == "status.podIP", p == "status.podIPs",
		strings.HasPrefix(p, "metadata.labels["):
		// Label values are at most 63 characters of [A-Za-z0-9_.-]
		// starting and ending alphanumeric: never "." nor "..".
		return "", componentValue
	}
	return "", arbitraryValue
}

// podNamePrefix is what every pod name of the DaemonSet called name starts
// with ("" when the name is unknown).
func podNamePrefix(name string) string {
	if name == "" {
		return ""
	}
	prefix := name + "-"
	if len(prefix) > 58 {
		prefix = prefix[:58]
	}
	return prefix
}

// expand replaces $(NAME) in s with its value and "$$" with "$", as
// Kubernetes' forked expansion package does, up to the first variable whose
// value is not literal: it returns the text expanded so far and the kind of
// that variable (literalValue when every variable was literal).
func expand(s string, lookup func(string) (string, valueKind)) (string, valueKind) {
	if !strings.Contains(s, "$") {
		return s, literalValue
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				// No closing parenthesis: the kubelet keeps the text.
				b.WriteString(s[i:])
				return b.String(), literalValue
			}
			v, kind := lookup(s[i+2 : i+2+end])
			if kind != literalValue {
				b.WriteString(v)
				return b.String(), kind
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), literalValue
}
