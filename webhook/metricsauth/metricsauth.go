// Package metricsauth guards /metrics the way controller-runtime's
// filters.WithAuthenticationAndAuthorization does, a TokenReview and then a
// SubjectAccessReview against the API server, with the same cache lifetimes,
// through typed clients alone. controller-runtime's filter is built on
// k8s.io/apiserver, which brings cel-go, gRPC and OpenTelemetry into the
// server binary for these two calls.
package metricsauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/daemonguard/daemonguard/internal/kube"
)

// The cache lifetimes of controller-runtime's filter (and of kube-rbac-proxy):
// a token's review for a minute, an allowed request for five, a denied one
// for thirty seconds so that a new RoleBinding takes effect soon.
const (
	tokenTTL   = time.Minute
	allowTTL   = 5 * time.Minute
	denyTTL    = 30 * time.Second
	apiTimeout = 10 * time.Second
	// cacheSize bounds each cache: a scraper sends one token, and forged
	// tokens must not grow the server's memory.
	cacheSize = 1024
)

// backoff is k8s.io/apiserver's DefaultAuthWebhookRetryBackoff, which
// controller-runtime's filter also uses.
var backoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}

// tokenReviews and accessReviews create the reviews (kube's typed clients,
// or client-go's fakes in tests).
type tokenReviews interface {
	Create(context.Context, *authnv1.TokenReview, metav1.CreateOptions) (*authnv1.TokenReview, error)
}

type accessReviews interface {
	Create(context.Context, *authzv1.SubjectAccessReview, metav1.CreateOptions) (*authzv1.SubjectAccessReview, error)
}

// Reviewer asks the API server who a bearer token is and what they may do.
type Reviewer struct {
	tokens tokenReviews
	access accessReviews

	users     *ttlCache[authnv1.UserInfo]
	decisions *ttlCache[bool]
	now       func() time.Time
}

// New is a Reviewer that calls the API server through cs.
func New(cs *kube.Clientset) (*Reviewer, error) {
	return &Reviewer{
		tokens: cs.TokenReviews(), access: cs.SubjectAccessReviews(),
		users: newTTLCache[authnv1.UserInfo](cacheSize), decisions: newTTLCache[bool](cacheSize),
		now: time.Now,
	}, nil
}

// Guard answers 401 without a valid bearer token, 403 when its user may not
// get the path (a non-resource URL), 500 when the API server cannot say,
// and otherwise serves next.
func (r *Reviewer) Guard(log logr.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		token, ok := bearer(req)
		if !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		user, ok, err := r.authenticate(req.Context(), token)
		if err != nil {
			log.Error(err, "Authentication failed")
			http.Error(w, "Authentication failed", http.StatusInternalServerError)
			return
		}
		if !ok {
			log.V(4).Info("Authentication failed")
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		verb := strings.ToLower(req.Method)
		allowed, err := r.authorize(req.Context(), user, verb, req.URL.Path)
		if err != nil {
			msg := fmt.Sprintf("Authorization for user %s failed", user.Username)
			log.Error(err, msg)
			http.Error(w, msg, http.StatusInternalServerError)
			return
		}
		if !allowed {
			msg := fmt.Sprintf("Authorization denied for user %s", user.Username)
			log.V(4).Info(msg, "verb", verb, "path", req.URL.Path)
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, req)
	})
}

// bearer is the request's bearer token, as the API server's own
// authenticator reads the header.
func bearer(req *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(req.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// authenticate is the TokenReview of token, cached by its hash: a failed
// review is cached too, for a minute, as the API server's token cache does.
func (r *Reviewer) authenticate(ctx context.Context, token string) (authnv1.UserInfo, bool, error) {
	key := fmt.Sprintf("%x", sha256.Sum256([]byte(token)))
	now := r.now()
	if user, ok := r.users.get(key, now); ok {
		return user, user.Username != "", nil
	}
	var status authnv1.TokenReviewStatus
	err := call(ctx, func(ctx context.Context) error {
		review, err := r.tokens.Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
		if err == nil {
			status = review.Status
		}
		return err
	})
	if err != nil {
		return authnv1.UserInfo{}, false, err
	}
	user := authnv1.UserInfo{}
	if status.Authenticated {
		user = status.User
	}
	r.users.put(key, user, now, tokenTTL)
	return user, status.Authenticated && user.Username != "", nil
}

// authorize is the SubjectAccessReview of user's verb on the non-resource
// URL path, cached by everything the review is asked.
func (r *Reviewer) authorize(ctx context.Context, user authnv1.UserInfo, verb, path string) (bool, error) {
	spec := authzv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups,
		NonResourceAttributes: &authzv1.NonResourceAttributes{Verb: verb, Path: path},
	}
	if len(user.Extra) > 0 {
		spec.Extra = make(map[string]authzv1.ExtraValue, len(user.Extra))
		for k, v := range user.Extra {
			spec.Extra[k] = authzv1.ExtraValue(v)
		}
	}
	key := accessKey(spec)
	now := r.now()
	if allowed, ok := r.decisions.get(key, now); ok {
		return allowed, nil
	}
	var status authzv1.SubjectAccessReviewStatus
	err := call(ctx, func(ctx context.Context) error {
		review, err := r.access.Create(ctx, &authzv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
		if err == nil {
			status = review.Status
		}
		return err
	})
	if err != nil {
		return false, err
	}
	allowed := status.Allowed && !status.Denied
	ttl := denyTTL
	if allowed {
		ttl = allowTTL
	}
	r.decisions.put(key, allowed, now, ttl)
	return allowed, nil
}

// accessKey names a SubjectAccessReview spec uniquely: every part quoted,
// the groups and extra sorted.
func accessKey(s authzv1.SubjectAccessReviewSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q %q %q %q", s.User, s.UID, s.NonResourceAttributes.Verb, s.NonResourceAttributes.Path)
	fmt.Fprintf(&b, " %q", slices.Sorted(slices.Values(s.Groups)))
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range s.Extra {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, " %q=%q", k, slices.Sorted(slices.Values(s.Extra[k])))
	}
	return b.String()
}

// call makes one review, retried with the API server's webhook backoff when
// the error may pass, each try bounded by apiTimeout.
func call(ctx context.Context, review func(context.Context) error) error {
	return retry.OnError(backoff, func(err error) bool { return ctx.Err() == nil && transient(err) }, func() error {
		ctx, cancel := context.WithTimeout(ctx, apiTimeout)
		defer cancel()
		return review(ctx)
	})
}

// transient is an error a later try may not meet: the API server's 429 and
// 5xx answers, and anything that is not an answer (a connection refused or
// reset, a timeout). A 4xx answer (this ServiceAccount may not create
// reviews, say) is final.
func transient(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	code := status.Status().Code
	return code == http.StatusTooManyRequests || code >= 500 || code == 0
}
