package review

import (
	jsonv2 "github.com/go-json-experiment/json"
	kjson "sigs.k8s.io/json"
)

// unmarshal decodes JSON as the API server does (sigs.k8s.io/json: field
// names case-sensitive, unknown fields ignored), in half the time and half
// the allocations where it can. Decoding is most of what a review costs.
//
// The fast path is encoding/json/v2's engine with its strict defaults: a
// duplicate name or invalid UTF-8 is an error there. The API server never
// sends either (it encodes the objects itself), and on those, and on any
// other error, the review is decoded again the API server's way, so every
// verdict and every error message stays what it was. FuzzFastDecodeAgrees
// holds the two to the same result wherever the fast path succeeds.
func unmarshal[T any](data []byte, v *T) error {
	if err := jsonv2.Unmarshal(data, v); err == nil {
		return nil
	}
	var zero T
	*v = zero // what the fast path half filled
	return kjson.UnmarshalCaseSensitivePreserveInts(data, v)
}
