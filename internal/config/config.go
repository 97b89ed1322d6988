// Package config defines daemonguard's policy file (daemonguard.io/v1alpha1),
// its defaults, and strict loading: unknown fields and bad values are errors
// that name the field, and a file that fails to load never yields a policy.
package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// APIVersion and Kind identify the policy file format.
const (
	APIVersion = "daemonguard.io/v1alpha1"
	Kind       = "Policy"
)

// Policy is the admin-owned configuration of both webhooks and of `check`.
type Policy struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Mutation configures the mutators: what is filled in where the author
	// left it out.
	Mutation Mutation `json:"mutation"`
	// Validation configures the rules: their actions and the lists they
	// judge host access by.
	Validation Validation `json:"validation"`
	// Exemptions skip mutators and rules for matching DaemonSets. When the
	// field is absent, kube-system is exempt; the webhook's own namespace is
	// always exempt. An explicit list replaces the kube-system default.
	Exemptions []Exemption `json:"exemptions,omitempty"`
}

// Mutation configures the three mutators.
type Mutation struct {
	// Tolerations are added unless an existing toleration covers them.
	Tolerations TolerationsMutation `json:"tolerations"`
	// PriorityClass is set where the pod names none.
	PriorityClass PriorityClassMutation `json:"priorityClass"`
	// Resources fills missing container requests and limits.
	Resources ResourcesMutation `json:"resources"`
}

// TolerationsMutation adds Defaults that no existing toleration covers.
type TolerationsMutation struct {
	// Enabled turns the tolerations mutator on.
	Enabled *bool `json:"enabled,omitempty"`
	// Defaults are the tolerations added unless one already covers them.
	// The DaemonSet controller's own (not-ready, unreachable, *-pressure,
	// unschedulable) are refused.
	Defaults []corev1.Toleration `json:"defaults,omitempty"`
}

// PriorityClassMutation sets Name when priorityClassName is empty.
type PriorityClassMutation struct {
	// Enabled turns the priority-class mutator on.
	Enabled *bool `json:"enabled,omitempty"`
	// Name is the class set, never one the cluster lacks; the chart
	// creates a PriorityClass of this name.
	// +kubebuilder:validation:Pattern=^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
}

// ResourcesMutation fills missing container requests, and limits sized from
// each container's own request so that a default never OOM-kills or
// throttles an agent that needs more than a typical one.
type ResourcesMutation struct {
	// Enabled turns the resources mutator on.
	Enabled *bool `json:"enabled,omitempty"`
	// Requests are filled per resource name when a container has none.
	Requests corev1.ResourceList `json:"requests,omitempty"`
	// MemoryLimit sizes a missing memory limit (on by default).
	MemoryLimit LimitDefault `json:"memoryLimit"`
	// CPULimit sizes a missing CPU limit (off by default: throttling a node
	// agent is latency, and its request already protects its neighbours).
	CPULimit LimitDefault `json:"cpuLimit"`
	// SkipPriorityClasses are the priorityClassNames whose pods get no
	// resources at all. Absent means the two system classes; [] means none.
	// +kubebuilder:validation:items:Pattern=^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$
	// +kubebuilder:validation:items:MaxLength=253
	SkipPriorityClasses []string `json:"skipPriorityClasses,omitempty"`
}

// LimitDefault sizes an injected limit as the larger of Minimum and
// RequestMultiplier times the container's request for the same resource
// (the author's or the injected one). With a multiplier of at least 2 the
// limit is never pinned to the request.
type LimitDefault struct {
	// Enabled turns this limit on.
	Enabled *bool `json:"enabled,omitempty"`
	// Minimum is the smallest limit injected.
	Minimum *resource.Quantity `json:"minimum,omitempty"`
	// RequestMultiplier is a whole number, at least 2: the limit is never
	// pinned to the request.
	// +kubebuilder:validation:Minimum=2
	RequestMultiplier int32 `json:"requestMultiplier,omitempty"`
}

// Validation configures the rules.
type Validation struct {
	// Rules maps a rule id to its action; rules not named keep their
	// default. Quote "off": unquoted, YAML reads it as false.
	// +daemonguard:keys=rules
	Rules map[string]Action `json:"rules,omitempty"`
	// SensitiveHostPaths replaces the rules' built-in list when set: host
	// paths no container may mount writable.
	// +kubebuilder:validation:items:Pattern=^/
	SensitiveHostPaths []string `json:"sensitiveHostPaths,omitempty"`
	// RuntimeSockets replaces the rules' built-in list when set: container
	// runtime sockets and their directories, which no container may mount.
	// +kubebuilder:validation:items:Pattern=^/
	RuntimeSockets []string `json:"runtimeSockets,omitempty"`
	// AllowedHostPaths are host paths the admin knows nothing on their
	// nodes reads, runs or trusts, beside daemonguard's built-in known-safe
	// list, as PodSecurityPolicy's allowedHostPaths had them: a mount at or
	// below PathPrefix (on path component boundaries) is no longer unknown
	// to the unknown-* rules; with ReadOnly only a read-only one. They never
	// make a path a rule knows to be dangerous safe: exempt the DaemonSet
	// for that.
	AllowedHostPaths []AllowedHostPath `json:"allowedHostPaths,omitempty"`
}

// AllowedHostPath is one entry of validation.allowedHostPaths.
type AllowedHostPath struct {
	// PathPrefix is an absolute, clean host path: a Linux path, or a
	// Windows one with a drive letter (C:\agent) or a named pipe.
	PathPrefix string `json:"pathPrefix"`
	// ReadOnly allows only read-only mounts below PathPrefix.
	ReadOnly bool `json:"readOnly,omitempty"`
}

// Exemption skips mutators and rules for the DaemonSets it matches: those in
// one of Namespaces that, when DaemonSets is set, have one of those names,
// and, when Selector is set, have labels that match it (a Selector alone may
// match anywhere when AnyNamespace is true). Every condition given must hold.
type Exemption struct {
	// Namespaces are matched by name (kubernetes.io/metadata.name).
	// +kubebuilder:validation:items:Pattern=^[a-z0-9]([-a-z0-9]*[a-z0-9])?$
	// +kubebuilder:validation:items:MaxLength=63
	Namespaces []string `json:"namespaces,omitempty"`
	// DaemonSets are the names (metadata.name) of the DaemonSets exempted,
	// within Namespaces: the narrowest entry, the one `check` prints. A name
	// is unique in its namespace and no UPDATE can change it, so only that
	// DaemonSet, or one created under its name after it is deleted, matches.
	// +kubebuilder:validation:items:Pattern=^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$
	// +kubebuilder:validation:items:MaxLength=253
	DaemonSets []string `json:"daemonSets,omitempty"`
	// Selector matches the DaemonSet's own labels. Authors set those labels,
	// so a selector must be confined to Namespaces unless AnyNamespace says
	// the admin really means every namespace.
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// AnyNamespace lets a Selector match in every namespace.
	AnyNamespace bool `json:"anyNamespace,omitempty"`
	// Rules names the rule ids and mutator names skipped; empty means all.
	// +daemonguard:enum=exemptable
	Rules []string `json:"rules,omitempty"`
	// Reason is free text for the humans reading the policy.
	Reason string `json:"reason,omitempty"`
}

// Defaults returns the built-in policy: what applies without a policy file.
func Defaults() *Policy {
	p := &Policy{APIVersion: APIVersion, Kind: Kind}
	SetDefaults(p)
	return p
}

// DefaultPriorityClass is the class the chart creates and the mutator sets.
const DefaultPriorityClass = "infra-daemonset"

// SetDefaults fills what the file leaves unset. The host path lists stay nil
// when unset: nil means the rules' built-in lists, which belong to the rules
// and grow with daemonguard upgrades.
func SetDefaults(p *Policy) {
	t := true
	m := &p.Mutation
	if m.Tolerations.Enabled == nil {
		m.Tolerations.Enabled = &t
	}
	if m.Tolerations.Defaults == nil {
		m.Tolerations.Defaults = []corev1.Toleration{{
			Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
		}}
	}
	if m.PriorityClass.Enabled == nil {
		m.PriorityClass.Enabled = &t
	}
	if m.PriorityClass.Name == "" {
		m.PriorityClass.Name = DefaultPriorityClass
	}
	if m.Resources.Enabled == nil {
		m.Resources.Enabled = &t
	}
	if m.Resources.Requests == nil {
		m.Resources.Requests = corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
		}
	}
	setLimitDefault(&m.Resources.MemoryLimit, true, "512Mi")
	setLimitDefault(&m.Resources.CPULimit, false, "1")
	if m.Resources.SkipPriorityClasses == nil {
		m.Resources.SkipPriorityClasses = []string{"system-node-critical", "system-cluster-critical"}
	}
	if p.Exemptions == nil {
		p.Exemptions = []Exemption{{Namespaces: []string{"kube-system"}, Reason: "cluster components"}}
	}
}

// DefaultRequestMultiplier is the multiplier of both limit defaults.
const DefaultRequestMultiplier = 2

func setLimitDefault(l *LimitDefault, enabled bool, minimum string) {
	if l.Enabled == nil {
		l.Enabled = &enabled
	}
	if l.Minimum == nil {
		q := resource.MustParse(minimum)
		l.Minimum = &q
	}
	if l.RequestMultiplier == 0 {
		l.RequestMultiplier = DefaultRequestMultiplier
	}
}

// Action returns the configured action of rule id, or its default.
func (p *Policy) Action(id string, def Action) Action {
	if a, ok := p.Validation.Rules[id]; ok {
		return a
	}
	return def
}

// Parse decodes, defaults and validates a policy file's contents. Decoding
// is the API server's own: field names match case-sensitively, and unknown
// fields, duplicate keys, extra YAML documents and invalid values are errors
// naming the field. What only the compiled policy knows (rule ids, mutator
// names) is checked by the policy package.
func Parse(data []byte) (*Policy, error) {
	if n := countDocuments(data); n > 1 {
		return nil, fmt.Errorf("decoding policy: the file holds %d YAML documents; it must hold one Policy", n)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("decoding policy: %w", err)
	}
	if errs := removedFields(js); len(errs) > 0 {
		return nil, fmt.Errorf("invalid policy: %w", errs.ToAggregate())
	}
	var p Policy
	strict, err := kjson.UnmarshalStrict(js, &p)
	if err != nil {
		if errs := quantityErrors(js); len(errs) > 0 {
			// The decoder's own error does not name the quantity's field.
			return nil, fmt.Errorf("decoding policy: %w", errs.ToAggregate())
		}
		return nil, fmt.Errorf("decoding policy: %w", err)
	}
	if len(strict) > 0 {
		return nil, fmt.Errorf("decoding policy: %w", utilerrors.NewAggregate(strict))
	}
	if errs := ValidatePolicy(&p, nil); len(errs) > 0 {
		return nil, fmt.Errorf("invalid policy: %w", errs.ToAggregate())
	}
	SetDefaults(&p)
	return &p, nil
}

// quantityErrors names the default requests and limit minimums that do not parse.
func quantityErrors(js []byte) field.ErrorList {
	type limit struct {
		Minimum any `json:"minimum"`
	}
	var doc struct {
		Mutation struct {
			Resources struct {
				Requests    map[string]any `json:"requests"`
				MemoryLimit limit          `json:"memoryLimit"`
				CPULimit    limit          `json:"cpuLimit"`
			} `json:"resources"`
		} `json:"mutation"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &doc); err != nil {
		return nil
	}
	var errs field.ErrorList
	at := field.NewPath("mutation", "resources")
	r := &doc.Mutation.Resources
	for _, name := range sortedKeys(r.Requests) {
		s := fmt.Sprint(r.Requests[name])
		if _, err := resource.ParseQuantity(s); err != nil {
			errs = append(errs, field.Invalid(at.Child("requests").Key(name), s, err.Error()))
		}
	}
	for name, l := range map[string]limit{"cpuLimit": r.CPULimit, "memoryLimit": r.MemoryLimit} {
		if l.Minimum == nil {
			continue
		}
		s := fmt.Sprint(l.Minimum)
		if _, err := resource.ParseQuantity(s); err != nil {
			errs = append(errs, field.Invalid(at.Child(name, "minimum"), s, err.Error()))
		}
	}
	return errs
}

// removedFields refuses, with a pointer to their replacement, fields that
// earlier versions of the file had: strict decoding would only say "unknown".
func removedFields(js []byte) field.ErrorList {
	var doc struct {
		Mutation struct {
			Resources struct {
				Limits any `json:"limits"`
			} `json:"resources"`
		} `json:"mutation"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &doc); err != nil || doc.Mutation.Resources.Limits == nil {
		return nil
	}
	return field.ErrorList{field.Forbidden(field.NewPath("mutation", "resources", "limits"),
		"fixed default limits were removed (a fixed memory limit OOM-kills agents that need more than it): use memoryLimit {minimum, requestMultiplier} and cpuLimit {enabled, minimum, requestMultiplier}, which size each limit from the container's own request")}
}

// countDocuments counts the non-empty YAML documents in data.
func countDocuments(data []byte) int {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	n := 0
	for {
		doc, err := r.Read()
		if err != nil {
			return n // io.EOF, or a syntax error the decoder will report
		}
		if js, err := yaml.YAMLToJSON(doc); err == nil && string(bytes.TrimSpace(js)) != "null" {
			n++
		}
	}
}

// Load reads and parses the policy file at path.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}
