// Package fanout is how the benchmarks write many objects at once: a bounded
// number of calls in flight, every error kept.
package fanout

import (
	"errors"
	"sync"
)

// Do runs f(0..n-1), width at a time, and joins their errors.
func Do(n, width int, f func(int) error) error {
	sem := make(chan struct{}, width)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
