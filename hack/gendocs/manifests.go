package main

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
)

var validatingKind = regexp.MustCompile(`(?m)^kind: ValidatingWebhookConfiguration$`)

// spliceConditions writes conds (the chart's validating-match-conditions
// file) into the ValidatingWebhookConfiguration of a manifest rendered from
// the chart, exactly as the chart's template does (the file indented by six
// spaces under "    matchConditions:"). The manifests are rendered by
// hack/render-manifests.sh with helm, which go generate cannot run
// hermetically; the conditions are the part of them the registries define,
// so they follow every rule change here, and test/chart checks that the
// whole file still equals a fresh render.
func spliceConditions(manifest, conds []byte) ([]byte, error) {
	docs := bytes.Split(manifest, []byte("\n---\n"))
	found := false
	for i, d := range docs {
		if !validatingKind.Match(d) {
			continue
		}
		lines := strings.Split(string(d), "\n")
		for j := 0; j < len(lines); j++ {
			if lines[j] != "    matchConditions:" {
				continue
			}
			k := j + 1
			for k < len(lines) && strings.HasPrefix(lines[k], "      ") {
				k++
			}
			var block []string
			for l := range strings.SplitSeq(string(conds), "\n") {
				block = append(block, "      "+l)
			}
			if i == len(docs)-1 && k == len(lines)-1 && lines[k] == "" {
				// At the end of the file helm leaves no trailing blanks.
				block = block[:len(block)-1]
			}
			lines = append(lines[:j+1], append(block, lines[k:]...)...)
			found = true
			break
		}
		docs[i] = []byte(strings.Join(lines, "\n"))
	}
	if !found {
		return nil, errors.New("no matchConditions in a ValidatingWebhookConfiguration (render the manifests with hack/render-manifests.sh)")
	}
	return bytes.Join(docs, []byte("\n---\n")), nil
}
