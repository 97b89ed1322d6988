// Command nullwebhook is the floor `make bench-e2e` measures daemonguard
// against: an admission webhook that admits everything, served as serve
// serves (TLS 1.2 at least, HTTP/1.1 only, its own process), so that two
// hops to it cost what any webhook pair must cost and nothing more.
//
// Every path answers an admission.k8s.io/v1 review with allowed: true and
// its uid; a plain-HTTP /count on --count-addr reports how many reviews it
// answered, for the benchmark to see that the API server calls it.
//
// With --patch, the mutating path answers a review of the object named
// --patch-name with that JSONPatch, unread: the floor for a pair that makes
// daemonguard's change, whose cost to the API server is then the same.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9443", "TLS address of the webhook")
	countAddr := flag.String("count-addr", "127.0.0.1:9444", "plain-HTTP address of /count")
	cert := flag.String("cert", "tls.crt", "serving certificate")
	key := flag.String("key", "tls.key", "serving key")
	patchFile := flag.String("patch", "", "a JSONPatch file the mutating path answers with for --patch-name")
	patchName := flag.String("patch-name", "", "the name of the object --patch is for")
	flag.Parse()
	var patch []byte
	if *patchFile != "" {
		var err error
		if patch, err = os.ReadFile(*patchFile); err != nil {
			log.Fatalf("nullwebhook: %v", err)
		}
		if *patchName == "" || !json.Valid(patch) {
			log.Fatalf("nullwebhook: --patch needs --patch-name and a JSON file")
		}
	}

	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		log.Fatalf("nullwebhook: %v", err)
	}
	var reviews atomic.Int64
	hook := &http.Server{
		Addr:              *addr,
		Handler:           admitAll(&reviews, patch, *patchName),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}},
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	count := &http.Server{Addr: *countAddr, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, reviews.Load())
	})}
	go func() { log.Fatalf("nullwebhook: count: %v", count.ListenAndServe()) }()
	fmt.Fprintln(os.Stderr, "nullwebhook: serving on", *addr)
	log.Fatalf("nullwebhook: %v", hook.ListenAndServeTLS("", ""))
}

// mutatePath is the mutating webhook's path in the shipped configurations.
const mutatePath = "/mutate-apps-v1-daemonset"

// admitAll answers every review with allowed: true, reading only its uid and
// name; with patch, a review on mutatePath of the object named patchName
// gets patch.
func admitAll(reviews *atomic.Int64, patch []byte, patchName string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review struct {
			Request struct {
				UID  string `json:"uid"`
				Name string `json:"name"`
			} `json:"request"`
		}
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request.UID == "" {
			http.Error(w, "want an admission review with a request uid", http.StatusBadRequest)
			return
		}
		reviews.Add(1)
		response := map[string]any{"uid": review.Request.UID, "allowed": true}
		if patch != nil && r.URL.Path == mutatePath && review.Request.Name == patchName {
			response["patchType"], response["patch"] = "JSONPatch", patch // []byte: base64, as the API server wants it
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"apiVersion": "admission.k8s.io/v1",
			"kind":       "AdmissionReview",
			"response":   response,
		})
	})
}
