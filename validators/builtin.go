package validators

// BuiltinOptions are the rules' options when the policy file sets none of
// them: every list at what the rules use when its Options field is nil. A
// field of the policy file's validation settings that replaces one of these
// lists has the same Go name, so the docs can show the default policy with
// the lists spelled out (hack/gendocs) without knowing each list. A list
// that is empty unless configured is set here empty, not left nil.
func BuiltinOptions() Options {
	return Options{
		SensitiveHostPaths: DefaultSensitiveHostPaths(),
		RuntimeSockets:     DefaultRuntimeSockets(),
		// The admin's own; the built-in known-safe list stands beside it.
		AllowedHostPaths: []AllowedHostPath{},
	}
}
