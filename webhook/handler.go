// Package webhook serves daemonguard's two admission endpoints over TLS, with
// health checks, metrics, and a policy file that is reloaded when it
// changes. It reads and writes the cluster through internal/kube, not
// controller-runtime's manager and client, whose scheme of every API group
// was most of the binary.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/review"
)

// Endpoint paths, as the webhook configurations in deploy/ name them.
const (
	MutatePath   = "/mutate-apps-v1-daemonset"
	ValidatePath = "/validate-apps-v1-daemonset"
)

// DefaultMaxRequestBytes bounds a review body. The API server caps a request
// body at 3 MiB, and a review of an UPDATE carries the object twice.
const DefaultMaxRequestBytes = 7 << 20

// Handler serves one admission endpoint: mutating or validating.
type Handler struct {
	mutating bool
	policy   func() *policy.Policy
	metrics  *Metrics
	log      logr.Logger
	maxBytes int64
	buffers  sync.Pool
	// owners records Events on the owners of denied DaemonSets; nil: none.
	owners *ownerEvents
}

// NewMutatingHandler serves the mutating endpoint with the policy current
// returns at each request.
func NewMutatingHandler(current func() *policy.Policy, m *Metrics, log logr.Logger) *Handler {
	return newHandler(true, current, m, log.WithName("mutate"))
}

// NewValidatingHandler serves the validating endpoint.
func NewValidatingHandler(current func() *policy.Policy, m *Metrics, log logr.Logger) *Handler {
	return newHandler(false, current, m, log.WithName("validate"))
}

func newHandler(mutating bool, current func() *policy.Policy, m *Metrics, log logr.Logger) *Handler {
	return &Handler{
		mutating: mutating, policy: current, metrics: m, log: log, maxBytes: DefaultMaxRequestBytes,
		buffers: sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
}

func (h *Handler) name() string {
	if h.mutating {
		return "mutate"
	}
	return "validate"
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		http.Error(w, "admission reviews are POSTed", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		http.Error(w, fmt.Sprintf("content type %q is not application/json", ct), http.StatusUnsupportedMediaType)
		return
	}
	buf := h.buffer()
	defer h.release(buf)
	if err := readBody(buf, r.Body, h.maxBytes+1); err != nil {
		http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if int64(buf.Len()) > h.maxBytes {
		h.log.Info("review refused: body too large", "bytes", buf.Len(), "limit", h.maxBytes)
		http.Error(w, fmt.Sprintf("admission review exceeds %d bytes", h.maxBytes), http.StatusRequestEntityTooLarge)
		return
	}

	req, err := review.Decode(buf.Bytes())
	if err != nil {
		var de *review.DecodeError
		if errors.As(err, &de) && de.UID != "" {
			// Answer with a denial the API server shows to the user, on
			// both endpoints: what cannot be read is never admitted.
			resp := review.Errored(de.UID, http.StatusBadRequest, err)
			h.write(w, &resp)
		} else {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
		h.log.Info("review refused: undecodable", "error", err.Error())
		h.metrics.observe(h.name(), "", "", &review.Outcome{}, time.Since(start).Seconds())
		return
	}

	out := h.run(r.Context(), req)
	h.write(w, &out.Response)
	h.metrics.observe(h.name(), string(req.Operation), req.Namespace, &out, time.Since(start).Seconds())
	if out.Reviewed && !out.Response.Allowed {
		rules := make([]string, 0, len(out.Verdict.Violations))
		for _, v := range out.Verdict.Violations {
			if v.Action == policy.Deny {
				rules = append(rules, v.Rule)
			}
		}
		h.log.Info("denied", "namespace", req.Namespace, "name", req.Name, "operation", req.Operation,
			"uid", req.UID, "rules", rules, "dryRun", req.DryRun)
		// After the response: the Event never delays it. A dry run changes
		// nothing, and whoever sent it reads the response.
		if h.owners != nil && !h.mutating && !req.DryRun {
			v := out.Verdict // only a denial pays for the copy that escapes
			h.owners.denied(req.Namespace, req.DaemonSet(), &v)
		}
	}
}

// run applies the policy, turning a panic into a denial: a bug in a rule must
// neither crash the server nor admit what it was asked to check.
func (h *Handler) run(ctx context.Context, req *review.Request) (out review.Outcome) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error(fmt.Errorf("panic: %v", p), "policy panicked", "namespace", req.Namespace, "name", req.Name, "uid", req.UID)
			out = review.Outcome{Response: review.Errored(req.UID, http.StatusInternalServerError,
				errors.New("daemonguard failed to review this object; see the webhook's log"))}
		}
	}()
	if h.mutating {
		return review.Mutate(ctx, h.policy(), req)
	}
	return review.Validate(ctx, h.policy(), req)
}

func (h *Handler) write(w http.ResponseWriter, resp *admissionv1.AdmissionResponse) {
	body := h.buffer()
	defer h.release(body)
	if err := review.EncodeTo(body, resp); err != nil {
		h.log.Error(err, "encoding admission response")
		http.Error(w, "encoding admission response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body.Bytes())
}

// maxPooledBuffer bounds the buffers kept for reuse, so that one huge review
// does not pin megabytes for the life of the process.
const maxPooledBuffer = 1 << 20

// buffer returns an empty buffer for a request or response body.
func (h *Handler) buffer() *bytes.Buffer {
	buf := h.buffers.Get().(*bytes.Buffer)
	buf.Reset()
	return buf
}

func (h *Handler) release(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBuffer {
		h.buffers.Put(buf)
	}
}

// readBody appends at most limit bytes of body to buf. It is
// buf.ReadFrom(io.LimitReader(body, limit)) without the LimitReader, one
// allocation per request.
func readBody(buf *bytes.Buffer, body io.Reader, limit int64) error {
	for int64(buf.Len()) < limit {
		if buf.Available() < bytes.MinRead {
			buf.Grow(bytes.MinRead)
		}
		free := buf.AvailableBuffer()
		free = free[:cap(free)]
		if room := limit - int64(buf.Len()); int64(len(free)) > room {
			free = free[:room]
		}
		n, err := body.Read(free)
		if n < 0 || n > len(free) {
			return errors.New("request body reader returned an invalid count")
		}
		buf.Write(free[:n]) // in place: free is buf's own spare capacity
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}
