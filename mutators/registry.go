package mutators

// Registry lists every mutator, in the order they run. Docs and the
// exemption names are generated or checked from it: adding a mutator is a
// file in this package, one line here, and its settings in the policy file.
func Registry() []Definition {
	return []Definition{
		defineTolerations(),
		definePriorityClass(),
		defineResources(),
	}
}

// Names of the built-in mutators, as policy exemptions name them.
const (
	TolerationsName   = "tolerations"
	PriorityClassName = "priority-class"
	ResourcesName     = "resources"
)
