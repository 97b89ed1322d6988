// Package kube talks to the API server with typed clients and informers for
// the few kinds daemonguard reads and writes, through a scheme of those
// kinds only.
//
// client-go's Clientset, and controller-runtime's client built on it,
// register every API group of every Kubernetes release in one scheme at
// init: some 50 group versions whose types, registration and typed clients
// were a third of the daemonguard binary and most of its resident memory
// (README, "Cost per call"). The typed clients here make the requests
// client-go's generated ones make, over client-go's REST client, and the
// informers are client-go's, so the wire behaviour is the Clientset's.
package kube
