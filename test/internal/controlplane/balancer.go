package controlplane

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Balancer stands in for the webhook Service: kube-proxy picks an endpoint
// per new TCP connection, and an established connection stays with its pod
// until one side closes it, terminating or not. TLS passes through.
type Balancer struct {
	ln        net.Listener
	mu        sync.Mutex
	endpoints []int
	next      int
	// dialFailed counts connections routed to an endpoint that refused them.
	dialFailed map[int]int
}

// NewBalancer listens on a free loopback port; Close stops it.
func NewBalancer() (*Balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Balancer{ln: ln, dialFailed: map[int]int{}}
	go b.serve()
	return b, nil
}

// Port is the balancer's own port; URL its https address.
func (b *Balancer) Port() int   { return b.ln.Addr().(*net.TCPAddr).Port }
func (b *Balancer) URL() string { return "https://" + b.ln.Addr().String() }

// Add puts an endpoint into rotation.
func (b *Balancer) Add(port int) { b.mu.Lock(); b.endpoints = append(b.endpoints, port); b.mu.Unlock() }

// Remove takes an endpoint out of rotation: no new connections go to it.
func (b *Balancer) Remove(port int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.endpoints[:0]
	for _, p := range b.endpoints {
		if p != port {
			out = append(out, p)
		}
	}
	b.endpoints = out
}

// Set replaces every endpoint, for a test's own replicas.
func (b *Balancer) Set(ports ...int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.endpoints = append([]int(nil), ports...)
}

// FailedDials counts connections routed to port that it refused.
func (b *Balancer) FailedDials(port int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dialFailed[port]
}

func (b *Balancer) serve() {
	for {
		in, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		if len(b.endpoints) == 0 {
			b.mu.Unlock()
			in.Close()
			continue
		}
		port := b.endpoints[b.next%len(b.endpoints)]
		b.next++
		b.mu.Unlock()
		go func() {
			defer in.Close()
			out, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err != nil {
				b.mu.Lock()
				b.dialFailed[port]++
				b.mu.Unlock()
				return
			}
			defer out.Close()
			go func() {
				_, _ = io.Copy(out, in)
				out.(*net.TCPConn).CloseWrite()
			}()
			_, _ = io.Copy(in, out)
		}()
	}
}

// Close stops accepting connections.
func (b *Balancer) Close() error { return b.ln.Close() }
