package validators

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// expandSubPathExpr expands a subPathExpr the way the kubelet does
// (kubecontainer.ExpandContainerVolumeMounts over the container's final
// environment), but only from what the manifest fixes: it returns false
// when a variable comes from valueFrom, envFrom, a service link or anything
// else known only on the node. An undefined or empty variable makes the
// kubelet refuse to start the container, and envFrom, applied before env,
// may define any name, so every name not set by a literal env entry is
// unknown here.
//
// Literal env values are themselves expanded against the variables defined
// before them (and a reference to an unknown one makes the value unknown),
// as the kubelet does; the last definition of a name wins.
func expandSubPathExpr(expr string, env []corev1.EnvVar, envFrom bool) (string, bool) {
	_ = envFrom // every name no literal env entry sets is unknown, envFrom or not
	// values[i] is env[i]'s expanded value, ok[i] whether it is known.
	values := make([]string, len(env))
	known := make([]bool, len(env))
	resolve := func(name string, upTo int) (string, bool) {
		for i := upTo - 1; i >= 0; i-- {
			if env[i].Name == name {
				return values[i], known[i]
			}
		}
		return "", false
	}
	for i := range env {
		if env[i].ValueFrom != nil {
			continue
		}
		values[i], known[i] = expand(env[i].Value, func(name string) (string, bool) { return resolve(name, i) })
	}
	out, ok := expand(expr, func(name string) (string, bool) {
		v, ok := resolve(name, len(env))
		return v, ok && v != ""
	})
	return out, ok
}

// expand replaces $(NAME) in s with its value, "$$" with "$", as Kubernetes'
// forked expansion package does; it reports false when a name is unknown.
func expand(s string, mapping func(string) (string, bool)) (string, bool) {
	if !strings.Contains(s, "$") {
		return s, true
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
				return b.String(), true
			}
			v, ok := mapping(s[i+2 : i+2+end])
			if !ok {
				return "", false
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), true
}
