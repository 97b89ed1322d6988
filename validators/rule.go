// Package validators holds daemonguard's validation rules. Each rule is a pure
// function of a DaemonSet that reports what it forbids as a field.ErrorList with
// full field paths; what happens to a finding (deny, warn, audit) is decided by
// the policy that runs the rule, not by the rule itself.
package validators

import (
	"context"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/validators/nodes"
)

// Meta describes a rule: what the registry, the docs and the policy know
// about it without running it.
type Meta struct {
	// ID is the stable rule name used in config, messages and metrics.
	ID string
	// Default is the action used when the policy file does not name one.
	Default config.Action
	// Summary says in one line what the rule denies or warns about.
	Summary string
	// Why says in one clause why that is dangerous.
	Why string
	// Reads lists the fields of the pod template the rule reads.
	Reads []string
	// Credentials marks rules whose findings mean the pod can read node or
	// cluster credentials. The policy never injects default tolerations
	// (which would place the pod on control-plane nodes) into a DaemonSet
	// such a rule finds something in, whatever the rule's action.
	Credentials bool
	// Precondition holds for every object the rule can find something in
	// (it may hold for more, never for less): the validating webhook's
	// matchConditions are built from it, so the API server does not call
	// the webhook for a DaemonSet no rule can find anything in.
	Precondition precondition.Cond
	// ReadsCluster marks rules whose findings depend on the cluster (its
	// nodes, its PriorityClasses) as well as on the object. On an UPDATE
	// that changes neither the pod template nor the update strategy they
	// are not run: the object did not change, the cluster did, and scan and
	// reports judge running DaemonSets against the cluster as it changes.
	ReadsCluster bool
}

// Condition is the whole condition under which the rule runs and can find
// something: its precondition, and for a rule that reads the cluster, a
// CREATE or an UPDATE that changes what it reads of the object.
func (m *Meta) Condition() precondition.Cond {
	if m.ReadsCluster {
		return precondition.And(precondition.Changed, m.Precondition)
	}
	return m.Precondition
}

// TemplateUnchanged reports whether an UPDATE from old to ds changes neither
// the pod template nor the update strategy, so that rules reading the
// cluster are not run: the Go side of precondition.Changed.
func TemplateUnchanged(old, ds *appsv1.DaemonSet) bool {
	return equality.Semantic.DeepEqual(&old.Spec.Template, &ds.Spec.Template) &&
		equality.Semantic.DeepEqual(&old.Spec.UpdateStrategy, &ds.Spec.UpdateStrategy)
}

// Rule is one validation rule.
type Rule interface {
	// Validate returns one error per offending field. Details never contain
	// list indices (those live in the field path). BadValue says what the
	// finding grants, for ratcheting: a *Grant for a host path (an UPDATE
	// finding within the access of an old finding is no wider), or a
	// non-empty key string, the access resolved (container kind and name,
	// capability...) so that the same access on an old and a new object
	// compares equal and any change does not; without either, the policy
	// compares Details.
	Validate(ctx context.Context, t *Target) field.ErrorList
}

// Definition is a rule's registry entry: its metadata and how to build it.
type Definition struct {
	Meta
	New func(Options) Rule
}

// Target is a DaemonSet together with facts several rules need, computed once
// per review instead of once per rule.
type Target struct {
	DaemonSet  *appsv1.DaemonSet
	HostMounts []HostMount

	// The node-aware rules share one review of the DaemonSet against the
	// nodes: it is computed by the first of them to run.
	nodeReviewed bool
	nodeFindings []nodes.Finding
}

// NewTarget inspects ds for the rules.
func NewTarget(ds *appsv1.DaemonSet) *Target {
	return &Target{DaemonSet: ds, HostMounts: hostMounts(ds)}
}

// NodeLister lists the cluster's nodes (from an informer cache in the
// webhook, from --nodes in check). The nodes are shared: read them only. A
// list once returned is never changed: a lister that returns the same slice
// while the nodes stay the same lets Options.NodeReviews remember findings.
type NodeLister func(ctx context.Context) ([]*corev1.Node, error)

// ClassLookup reports whether a PriorityClass exists.
type ClassLookup func(ctx context.Context, name string) (bool, error)

// Options carries the admin-configured inputs some rules need.
type Options struct {
	// Nodes is the node view of the node-aware rules; nil means there is
	// none (an offline check without --nodes) and those rules stay silent.
	Nodes NodeLister
	// NodeReviews remembers the node-aware rules' findings across
	// DaemonSets of the same shape reviewed against the same node list;
	// nil reviews every DaemonSet anew.
	NodeReviews *nodes.Memo
	// ClassExists checks PriorityClasses; nil means they are not checked.
	ClassExists ClassLookup
	// SensitiveHostPaths may not be mounted writable (nor an ancestor, nor
	// anything under them); nil means the built-in list.
	SensitiveHostPaths []string
	// RuntimeSockets may not be mounted at all (nor their directories); nil
	// means the built-in list.
	RuntimeSockets []string
	// AllowedHostPaths are the admin's known-safe host paths, beside the
	// built-in ones (knownSafePaths).
	AllowedHostPaths []AllowedHostPath
}

// forbidden is a finding at path with a message and what it grants, for
// ratcheting: a *Grant, or a key string compared as it is.
func forbidden(path *field.Path, detail string, key any) *field.Error {
	e := field.Forbidden(path, detail)
	e.BadValue = key
	return e
}

// capabilityName normalises a capability the way container runtimes do:
// case-insensitive, with or without the CAP_ prefix.
func capabilityName(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	return strings.TrimPrefix(c, "CAP_")
}

// containerSecurity is the security context of the container a mount
// belongs to.
func (t *Target) containerSecurity(list string, index int) *corev1.SecurityContext {
	spec := &t.DaemonSet.Spec.Template.Spec
	switch list {
	case "containers":
		return spec.Containers[index].SecurityContext
	case "initContainers":
		return spec.InitContainers[index].SecurityContext
	case "ephemeralContainers":
		return spec.EphemeralContainers[index].SecurityContext
	}
	return nil
}
