package metricsauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// apiServer answers reviews as a test says and counts them.
type apiServer struct {
	users   map[string]authnv1.UserInfo // token → user; others are not authenticated
	allowed map[string]bool             // user → may get /metrics
	// tokenErrs are the errors the next TokenReviews fail with, in turn.
	tokenErrs          []error
	tokenCalls, sarRun int
	lastSAR            authzv1.SubjectAccessReviewSpec
}

func (a *apiServer) reviewer(clock *time.Time) *Reviewer {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "tokenreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		a.tokenCalls++
		if len(a.tokenErrs) > 0 {
			err := a.tokenErrs[0]
			a.tokenErrs = a.tokenErrs[1:]
			return true, nil, err
		}
		tr := action.(k8stesting.CreateAction).GetObject().(*authnv1.TokenReview).DeepCopy()
		if u, ok := a.users[tr.Spec.Token]; ok {
			tr.Status = authnv1.TokenReviewStatus{Authenticated: true, User: u}
		} else {
			tr.Status = authnv1.TokenReviewStatus{Error: "invalid bearer token"}
		}
		return true, tr, nil
	})
	cs.PrependReactor("create", "subjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		a.sarRun++
		sar := action.(k8stesting.CreateAction).GetObject().(*authzv1.SubjectAccessReview).DeepCopy()
		a.lastSAR = sar.Spec
		sar.Status.Allowed = a.allowed[sar.Spec.User] && sar.Spec.NonResourceAttributes != nil &&
			sar.Spec.NonResourceAttributes.Path == "/metrics" && sar.Spec.NonResourceAttributes.Verb == "get"
		return true, sar, nil
	})
	return &Reviewer{
		tokens: cs.AuthenticationV1().TokenReviews(), access: cs.AuthorizationV1().SubjectAccessReviews(),
		users: newTTLCache[authnv1.UserInfo](cacheSize), decisions: newTTLCache[bool](cacheSize),
		now: func() time.Time { return *clock },
	}
}

func scrape(t *testing.T, h http.Handler, method, authorization string) int {
	t.Helper()
	req := httptest.NewRequest(method, "/metrics", nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

var served = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("daemonguard_up 1\n")) })

func TestGuard(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	api := &apiServer{
		users: map[string]authnv1.UserInfo{
			"scraper-token":  {Username: "system:serviceaccount:monitoring:prometheus", Groups: []string{"system:serviceaccounts"}},
			"stranger-token": {Username: "system:serviceaccount:monitoring:stranger"},
		},
		allowed: map[string]bool{"system:serviceaccount:monitoring:prometheus": true},
	}
	h := api.reviewer(&clock).Guard(logr.Discard(), served)

	for _, header := range []string{"", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   "} {
		if code := scrape(t, h, http.MethodGet, header); code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: HTTP %d, want 401", header, code)
		}
	}
	if api.tokenCalls != 0 {
		t.Errorf("%d TokenReviews for requests without a bearer token, want 0", api.tokenCalls)
	}

	if code := scrape(t, h, http.MethodGet, "Bearer forged"); code != http.StatusUnauthorized {
		t.Errorf("forged token: HTTP %d, want 401", code)
	}
	if code := scrape(t, h, http.MethodGet, "Bearer stranger-token"); code != http.StatusForbidden {
		t.Errorf("unbound user: HTTP %d, want 403", code)
	}
	if code := scrape(t, h, http.MethodGet, "bearer scraper-token"); code != http.StatusOK {
		t.Errorf("bound user: HTTP %d, want 200", code)
	}
	if got := api.lastSAR; got.User != "system:serviceaccount:monitoring:prometheus" || len(got.Groups) != 1 ||
		got.NonResourceAttributes == nil || got.NonResourceAttributes.Verb != "get" || got.NonResourceAttributes.Path != "/metrics" {
		t.Errorf("SubjectAccessReview asked %+v, want the user's get on /metrics", got)
	}
	if code := scrape(t, h, http.MethodPost, "Bearer scraper-token"); code != http.StatusForbidden {
		t.Errorf("bound user, POST: HTTP %d, want 403 (the role grants get)", code)
	}
	tokens, sars := api.tokenCalls, api.sarRun
	if tokens != 3 || sars != 3 {
		t.Fatalf("%d TokenReviews and %d SubjectAccessReviews for three tokens and three verbs on two users, want 3 and 3", tokens, sars)
	}

	// Within the lifetimes, nothing is asked again.
	clock = clock.Add(29 * time.Second)
	scrape(t, h, http.MethodGet, "Bearer forged")
	scrape(t, h, http.MethodGet, "Bearer stranger-token")
	scrape(t, h, http.MethodGet, "Bearer scraper-token")
	if api.tokenCalls != tokens || api.sarRun != sars {
		t.Errorf("cached answers asked again: %d TokenReviews, %d SubjectAccessReviews, want %d and %d", api.tokenCalls, api.sarRun, tokens, sars)
	}
	// A denial lasts 30s, so a new binding takes effect: the stranger is
	// asked about again, the scraper's allowance (5 min) is not.
	api.allowed["system:serviceaccount:monitoring:stranger"] = true
	clock = clock.Add(2 * time.Second)
	if code := scrape(t, h, http.MethodGet, "Bearer stranger-token"); code != http.StatusOK {
		t.Errorf("stranger after binding, denial expired: HTTP %d, want 200", code)
	}
	scrape(t, h, http.MethodGet, "Bearer scraper-token")
	if api.sarRun != sars+1 {
		t.Errorf("%d SubjectAccessReviews after the denial expired, want %d", api.sarRun, sars+1)
	}
	// A token's review lasts a minute.
	clock = clock.Add(30 * time.Second)
	scrape(t, h, http.MethodGet, "Bearer forged")
	if api.tokenCalls != tokens+1 {
		t.Errorf("%d TokenReviews after a minute, want %d", api.tokenCalls, tokens+1)
	}
}

func TestGuardAPIErrors(t *testing.T) {
	old := backoff
	backoff = wait.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 5}
	t.Cleanup(func() { backoff = old })
	clock := time.Unix(1_800_000_000, 0)
	gr := schema.GroupResource{Group: "authentication.k8s.io", Resource: "tokenreviews"}

	api := &apiServer{
		users:     map[string]authnv1.UserInfo{"t": {Username: "u"}},
		allowed:   map[string]bool{"u": true},
		tokenErrs: []error{apierrors.NewServiceUnavailable("starting"), apierrors.NewTooManyRequests("busy", 1)},
	}
	if code := scrape(t, api.reviewer(&clock).Guard(logr.Discard(), served), http.MethodGet, "Bearer t"); code != http.StatusOK || api.tokenCalls != 3 {
		t.Errorf("after a 503 and a 429: HTTP %d after %d TokenReviews, want 200 after 3", code, api.tokenCalls)
	}

	api = &apiServer{users: map[string]authnv1.UserInfo{"t": {Username: "u"}}, tokenErrs: []error{apierrors.NewForbidden(gr, "", nil)}}
	if code := scrape(t, api.reviewer(&clock).Guard(logr.Discard(), served), http.MethodGet, "Bearer t"); code != http.StatusInternalServerError || api.tokenCalls != 1 {
		t.Errorf("webhook may not create TokenReviews: HTTP %d after %d TokenReviews, want 500 after 1 (a 403 is final)", code, api.tokenCalls)
	}

	var errs []error
	for range 6 {
		errs = append(errs, apierrors.NewInternalError(errors.New("etcd unavailable")))
	}
	api = &apiServer{users: map[string]authnv1.UserInfo{"t": {Username: "u"}}, tokenErrs: errs}
	if code := scrape(t, api.reviewer(&clock).Guard(logr.Discard(), served), http.MethodGet, "Bearer t"); code != http.StatusInternalServerError || api.tokenCalls != 5 {
		t.Errorf("API server failing: HTTP %d after %d TokenReviews, want 500 after 5", code, api.tokenCalls)
	}
}

func TestAccessKey(t *testing.T) {
	base := authzv1.SubjectAccessReviewSpec{User: "u", Groups: []string{"a", "b"}, NonResourceAttributes: &authzv1.NonResourceAttributes{Verb: "get", Path: "/metrics"}}
	same := base
	same.Groups = []string{"b", "a"}
	if accessKey(base) != accessKey(same) {
		t.Errorf("group order changes the key")
	}
	for name, change := range map[string]func(*authzv1.SubjectAccessReviewSpec){
		"user":   func(s *authzv1.SubjectAccessReviewSpec) { s.User = "v" },
		"uid":    func(s *authzv1.SubjectAccessReviewSpec) { s.UID = "1" },
		"group":  func(s *authzv1.SubjectAccessReviewSpec) { s.Groups = []string{"a"} },
		"joined": func(s *authzv1.SubjectAccessReviewSpec) { s.Groups = []string{"a b"} },
		"extra":  func(s *authzv1.SubjectAccessReviewSpec) { s.Extra = map[string]authzv1.ExtraValue{"scope": {"x"}} },
		"path": func(s *authzv1.SubjectAccessReviewSpec) {
			s.NonResourceAttributes = &authzv1.NonResourceAttributes{Verb: "get", Path: "/debug"}
		},
		"verb": func(s *authzv1.SubjectAccessReviewSpec) {
			s.NonResourceAttributes = &authzv1.NonResourceAttributes{Verb: "post", Path: "/metrics"}
		},
	} {
		other := base
		change(&other)
		if accessKey(other) == accessKey(base) {
			t.Errorf("a different %s gives the same key %s", name, accessKey(base))
		}
	}
}

func TestCacheBounded(t *testing.T) {
	now := time.Unix(0, 0)
	c := newTTLCache[bool](4)
	for i := range 10 {
		c.put(string(rune('a'+i)), true, now, time.Minute)
		if len(c.entries) > 4 {
			t.Fatalf("%d entries in a cache of 4", len(c.entries))
		}
	}
	if _, ok := c.get("j", now); !ok {
		t.Errorf("the newest entry is gone")
	}
	if _, ok := c.get("j", now.Add(time.Minute)); ok {
		t.Errorf("an entry is served at its expiry")
	}
}
