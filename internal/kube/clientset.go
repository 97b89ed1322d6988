package kube

import (
	"errors"
	"fmt"
	"net/http"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Clientset hands out typed clients of Scheme's kinds for one cluster,
// named as client-go's Clientset names them. The clients share one HTTP
// client (one connection pool).
type Clientset struct {
	core, apps, scheduling, admission, coordination, events, authn, authz, reports rest.Interface
}

// NewForConfig returns the Clientset of the cluster at cfg.
func NewForConfig(cfg *rest.Config) (*Clientset, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return NewForConfigAndClient(cfg, httpClient)
}

// NewForConfigAndClient is NewForConfig over an existing HTTP client. As
// client-go's Clientset, every group's client shares one rate limiter.
func NewForConfigAndClient(cfg *rest.Config, httpClient *http.Client) (*Clientset, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.RateLimiter == nil && cfg.QPS > 0 {
		if cfg.Burst <= 0 {
			return nil, errors.New("burst is required to be greater than 0 when RateLimiter is not set and QPS is set to greater than 0")
		}
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	}
	cs := &Clientset{}
	for _, c := range []struct {
		into *rest.Interface
		gv   schema.GroupVersion
	}{
		{&cs.core, corev1.SchemeGroupVersion},
		{&cs.apps, appsv1.SchemeGroupVersion},
		{&cs.scheduling, schedulingv1.SchemeGroupVersion},
		{&cs.admission, admissionregistrationv1.SchemeGroupVersion},
		{&cs.coordination, coordinationv1.SchemeGroupVersion},
		{&cs.events, eventsv1.SchemeGroupVersion},
		{&cs.authn, authenticationv1.SchemeGroupVersion},
		{&cs.authz, authorizationv1.SchemeGroupVersion},
		{&cs.reports, openreportsv1alpha1.SchemeGroupVersion},
	} {
		rc, err := restClient(cfg, httpClient, c.gv)
		if err != nil {
			return nil, fmt.Errorf("client for %s: %w", c.gv, err)
		}
		*c.into = rc
	}
	return cs, nil
}

// restClient is a REST client of one group version, configured as
// client-go's generated clients configure theirs.
func restClient(cfg *rest.Config, httpClient *http.Client, gv schema.GroupVersion) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &gv
	c.APIPath = "/apis"
	if gv.Group == "" {
		c.APIPath = "/api"
	}
	c.NegotiatedSerializer = rest.CodecFactoryForGeneratedClient(Scheme, Codecs).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	return rest.RESTClientForConfigAndClient(c, httpClient)
}

type object[E any] interface {
	*E
	Object
}

type list[E any] interface {
	*E
	runtime.Object
}

func newClient[T object[E], L list[LE], E, LE any](resource string, rc rest.Interface, namespace string) *Client[T, L] {
	return &Client[T, L]{resource: resource, rest: rc, namespace: namespace,
		newObject: func() T { return T(new(E)) }, newList: func() L { return L(new(LE)) }}
}

// Core kinds.

func (c *Clientset) Nodes() *Client[*corev1.Node, *corev1.NodeList] {
	return newClient[*corev1.Node, *corev1.NodeList]("nodes", c.core, "")
}

func (c *Clientset) Pods(namespace string) *Client[*corev1.Pod, *corev1.PodList] {
	return newClient[*corev1.Pod, *corev1.PodList]("pods", c.core, namespace)
}

func (c *Clientset) Secrets(namespace string) *Client[*corev1.Secret, *corev1.SecretList] {
	return newClient[*corev1.Secret, *corev1.SecretList]("secrets", c.core, namespace)
}

func (c *Clientset) ConfigMaps(namespace string) *Client[*corev1.ConfigMap, *corev1.ConfigMapList] {
	return newClient[*corev1.ConfigMap, *corev1.ConfigMapList]("configmaps", c.core, namespace)
}

// CoreEvents are core/v1 Events (what kubectl describe shows).
func (c *Clientset) CoreEvents(namespace string) *Client[*corev1.Event, *corev1.EventList] {
	return newClient[*corev1.Event, *corev1.EventList]("events", c.core, namespace)
}

// Events are events.k8s.io/v1 Events.
func (c *Clientset) Events(namespace string) *Client[*eventsv1.Event, *eventsv1.EventList] {
	return newClient[*eventsv1.Event, *eventsv1.EventList]("events", c.events, namespace)
}

func (c *Clientset) DaemonSets(namespace string) *Client[*appsv1.DaemonSet, *appsv1.DaemonSetList] {
	return newClient[*appsv1.DaemonSet, *appsv1.DaemonSetList]("daemonsets", c.apps, namespace)
}

func (c *Clientset) ControllerRevisions(namespace string) *Client[*appsv1.ControllerRevision, *appsv1.ControllerRevisionList] {
	return newClient[*appsv1.ControllerRevision, *appsv1.ControllerRevisionList]("controllerrevisions", c.apps, namespace)
}

func (c *Clientset) PriorityClasses() *Client[*schedulingv1.PriorityClass, *schedulingv1.PriorityClassList] {
	return newClient[*schedulingv1.PriorityClass, *schedulingv1.PriorityClassList]("priorityclasses", c.scheduling, "")
}

func (c *Clientset) MutatingWebhookConfigurations() *Client[*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfigurationList] {
	return newClient[*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfigurationList](
		"mutatingwebhookconfigurations", c.admission, "")
}

func (c *Clientset) ValidatingWebhookConfigurations() *Client[*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfigurationList] {
	return newClient[*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfigurationList](
		"validatingwebhookconfigurations", c.admission, "")
}

func (c *Clientset) Leases(namespace string) *Client[*coordinationv1.Lease, *coordinationv1.LeaseList] {
	return newClient[*coordinationv1.Lease, *coordinationv1.LeaseList]("leases", c.coordination, namespace)
}

func (c *Clientset) Reports(namespace string) *Client[*openreportsv1alpha1.Report, *openreportsv1alpha1.ReportList] {
	return newClient[*openreportsv1alpha1.Report, *openreportsv1alpha1.ReportList]("reports", c.reports, namespace)
}

// Reviews, created and answered at once, never stored.

func (c *Clientset) TokenReviews() *Reviews[*authenticationv1.TokenReview] {
	return &Reviews[*authenticationv1.TokenReview]{resource: "tokenreviews", rest: c.authn,
		newObject: func() *authenticationv1.TokenReview { return &authenticationv1.TokenReview{} }}
}

func (c *Clientset) SubjectAccessReviews() *Reviews[*authorizationv1.SubjectAccessReview] {
	return &Reviews[*authorizationv1.SubjectAccessReview]{resource: "subjectaccessreviews", rest: c.authz,
		newObject: func() *authorizationv1.SubjectAccessReview { return &authorizationv1.SubjectAccessReview{} }}
}

// RESTClient is the REST client of the core group (for discovery).
func (c *Clientset) RESTClient() rest.Interface { return c.core }
