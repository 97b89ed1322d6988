// Package review turns an AdmissionReview into daemonguard's verdict and back,
// doing only the work the policy needs: it decodes just the fields the
// mutators and rules read, and patches just the fields the mutators set,
// instead of decoding, deep-copying, re-encoding and diffing whole objects.
package review

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
)

// View is the part of an apps/v1 DaemonSet that daemonguard reads. Its JSON
// shape mirrors the real object; every other field is skipped while decoding.
// Pointers and nil maps record which fields were absent, so that the patch
// adds a missing parent instead of writing into a path that does not exist.
type View struct {
	APIVersion string        `json:"apiVersion"`
	Kind       string        `json:"kind"`
	Metadata   *metadataView `json:"metadata"`
	Spec       struct {
		Template *struct {
			Spec *podSpecView `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

type metadataView struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// Complete reports whether the object has metadata and a pod template spec.
// The API server validates DaemonSets only after mutating webhooks run, so
// the mutating webhook can be sent objects without them; it leaves those
// alone for the API server to reject, rather than patch paths that do not
// exist.
func (v *View) Complete() bool {
	return v.Metadata != nil && v.Spec.Template != nil && v.Spec.Template.Spec != nil
}

// Name is the object's name, empty when it has no metadata.
func (v *View) Name() string {
	if v.Metadata == nil {
		return ""
	}
	return v.Metadata.Name
}

// pod and meta return an empty part for an incomplete object (a fresh one,
// not a shared package value, so nothing can write into another review's).
func (v *View) pod() *podSpecView {
	if v.Spec.Template == nil || v.Spec.Template.Spec == nil {
		return &podSpecView{}
	}
	return v.Spec.Template.Spec
}

func (v *View) meta() *metadataView {
	if v.Metadata == nil {
		return &metadataView{}
	}
	return v.Metadata
}

type podSpecView struct {
	HostPID             bool                         `json:"hostPID"`
	PriorityClassName   string                       `json:"priorityClassName"`
	Priority            *int32                       `json:"priority"`
	Tolerations         []corev1.Toleration          `json:"tolerations"`
	Resources           *corev1.ResourceRequirements `json:"resources"`
	SecurityContext     *corev1.PodSecurityContext   `json:"securityContext"`
	Containers          []containerView              `json:"containers"`
	InitContainers      []containerView              `json:"initContainers"`
	EphemeralContainers []containerView              `json:"ephemeralContainers"`
	Volumes             []volumeView                 `json:"volumes"`
}

type containerView struct {
	Name            string                       `json:"name"`
	SecurityContext *corev1.SecurityContext      `json:"securityContext"`
	Resources       *corev1.ResourceRequirements `json:"resources"`
	VolumeMounts    []corev1.VolumeMount         `json:"volumeMounts"`
}

type volumeView struct {
	Name     string                       `json:"name"`
	HostPath *corev1.HostPathVolumeSource `json:"hostPath"`
}

// DecodeObject decodes one DaemonSet's JSON into a View, matching field names
// case-sensitively as the API server does.
func DecodeObject(data []byte) (*View, error) {
	v := &View{}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, v); err != nil {
		return nil, err
	}
	return v, nil
}

// DaemonSet builds the object the mutators and rules run on. It shares
// nothing the mutators write into with the View (annotations and resource
// maps are copied, toleration appends reallocate), so that after mutation the
// View still holds the "before" state the patch is made from.
func (v *View) DaemonSet() *appsv1.DaemonSet {
	return v.daemonSet(true)
}

// readOnlyDaemonSet is DaemonSet for code that never writes into the object
// (the rules): it shares the View's annotations and resource lists instead of
// copying them.
func (v *View) readOnlyDaemonSet() *appsv1.DaemonSet {
	return v.daemonSet(false)
}

func (v *View) daemonSet(forMutation bool) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{}
	meta := v.meta()
	ds.Name = meta.Name
	ds.Namespace = meta.Namespace
	ds.Labels = meta.Labels
	ds.Annotations = meta.Annotations
	if forMutation && meta.Annotations != nil {
		ds.Annotations = make(map[string]string, len(meta.Annotations)+1)
		for k, a := range meta.Annotations {
			ds.Annotations[k] = a
		}
	}
	s, spec := v.pod(), &ds.Spec.Template.Spec
	spec.HostPID = s.HostPID
	spec.PriorityClassName = s.PriorityClassName
	spec.Priority = s.Priority
	// Appends by a mutator never write into the View's backing array: its
	// capacity is capped at its length.
	spec.Tolerations = s.Tolerations[:len(s.Tolerations):len(s.Tolerations)]
	spec.Resources = s.Resources
	spec.SecurityContext = s.SecurityContext
	spec.Volumes = make([]corev1.Volume, len(s.Volumes))
	for i := range s.Volumes {
		spec.Volumes[i].Name = s.Volumes[i].Name
		spec.Volumes[i].HostPath = s.Volumes[i].HostPath
	}
	spec.Containers = containers(s.Containers, forMutation)
	spec.InitContainers = containers(s.InitContainers, forMutation)
	if len(s.EphemeralContainers) > 0 {
		spec.EphemeralContainers = make([]corev1.EphemeralContainer, len(s.EphemeralContainers))
		for i := range s.EphemeralContainers {
			c, e := &s.EphemeralContainers[i], &spec.EphemeralContainers[i]
			e.Name, e.SecurityContext, e.VolumeMounts = c.Name, c.SecurityContext, c.VolumeMounts
		}
	}
	return ds
}

// containers converts container views; with copyLists, the resource lists
// are copied so that a mutator filling them leaves the View as it was.
func containers(in []containerView, copyLists bool) []corev1.Container {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(in))
	for i := range in {
		c, o := &in[i], &out[i]
		o.Name, o.SecurityContext, o.VolumeMounts = c.Name, c.SecurityContext, c.VolumeMounts
		if c.Resources == nil {
			continue
		}
		o.Resources.Requests, o.Resources.Limits = c.Resources.Requests, c.Resources.Limits
		if copyLists {
			o.Resources.Requests = copyList(c.Resources.Requests)
			o.Resources.Limits = copyList(c.Resources.Limits)
		}
		o.Resources.Claims = c.Resources.Claims
	}
	return out
}

func copyList(l corev1.ResourceList) corev1.ResourceList {
	if l == nil {
		return nil
	}
	out := make(corev1.ResourceList, len(l))
	for k, q := range l {
		out[k] = q
	}
	return out
}
