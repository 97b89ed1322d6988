// Package validators holds daemonguard's validation rules. Each rule is a pure
// function of a DaemonSet that reports what it forbids as a field.ErrorList with
// full field paths; what happens to a finding (deny, warn, audit) is decided by
// the policy that runs the rule, not by the rule itself.
package validators

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Action is what the policy does with a rule's findings.
type Action string

const (
	// Enforce denies the request.
	Enforce Action = "enforce"
	// Warn admits the request and returns the finding as a warning to the client.
	Warn Action = "warn"
	// Audit admits the request silently and records the finding in the audit log.
	Audit Action = "audit"
	// Off disables the rule.
	Off Action = "off"
)

// ParseAction returns the Action named s, or an error listing the valid ones.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case Enforce, Warn, Audit, Off:
		return a, nil
	}
	return "", fmt.Errorf("unknown action %q: must be one of enforce, warn, audit, off", s)
}

// Rule is one validation rule.
type Rule interface {
	// ID is the stable rule name used in config, messages and metrics.
	ID() string
	// DefaultAction is the action used when the config does not name one.
	DefaultAction() Action
	// Validate returns one error per offending field. Details never contain
	// list indices (those live in the field path), so that the same finding on
	// an old and a new object compares equal for ratcheting.
	Validate(t *Target) field.ErrorList
}

// Target is a DaemonSet together with facts several rules need, computed once
// per review instead of once per rule.
type Target struct {
	DaemonSet  *appsv1.DaemonSet
	HostMounts []HostMount
}

// NewTarget inspects ds for the rules.
func NewTarget(ds *appsv1.DaemonSet) *Target {
	return &Target{DaemonSet: ds, HostMounts: hostMounts(&ds.Spec.Template.Spec)}
}

// Options carries the admin-configured inputs some rules need.
type Options struct {
	// SensitiveHostPaths may not be mounted writable (nor an ancestor, nor anything under them).
	SensitiveHostPaths []string
	// RuntimeSockets may not be mounted at all (nor their directories).
	RuntimeSockets []string
}

// All returns every rule in the order they run.
func All(opts Options) []Rule {
	return []Rule{
		hostPIDWritableHostPath{},
		hostPIDPrivileged{},
		newWritableSensitiveHostPath(opts.SensitiveHostPaths),
		newContainerRuntimeSocket(opts.RuntimeSockets),
		bidirectionalMountPropagation{},
		privilegedContainer{},
		ineffectiveToleration{},
	}
}

// IDs returns the ids of all rules, in order, with their default actions.
func IDs() map[string]Action {
	ids := map[string]Action{}
	for _, r := range All(Options{}) {
		ids[r.ID()] = r.DefaultAction()
	}
	return ids
}

// capabilityName normalises a capability the way container runtimes do:
// case-insensitive, with or without the CAP_ prefix.
func capabilityName(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	return strings.TrimPrefix(c, "CAP_")
}
