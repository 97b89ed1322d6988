package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Every denial is logged, however many come in a second: controller-runtime's
// production logger would keep 100 of these 300 and then one in 100.
func TestLoggerKeepsEveryLine(t *testing.T) {
	var out bytes.Buffer
	opts := zap.Options{DestWriter: &out}
	log := newLogger(&opts)
	for i := range 300 {
		log.Info("denied", "name", "agent", "i", i)
	}
	log.V(1).Info("debug, not shown at the default level")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 300 {
		t.Fatalf("%d lines logged, want 300", len(lines))
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("not JSON by default: %v: %s", err, lines[0])
	}
	if first["msg"] != "denied" || first["level"] != "info" || first["name"] != "agent" {
		t.Errorf("first line %v", first)
	}
}

// The --zap-* flags still apply.
func TestLoggerFlags(t *testing.T) {
	var out bytes.Buffer
	opts := zap.Options{DestWriter: &out}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	opts.BindFlags(fs)
	if err := fs.Parse([]string{"--zap-encoder=console", "--zap-log-level=debug"}); err != nil {
		t.Fatal(err)
	}
	newLogger(&opts).V(1).Info("shown at debug")
	if got := out.String(); !strings.Contains(got, "shown at debug") || strings.HasPrefix(got, "{") {
		t.Errorf("want a console line at debug, got %q", got)
	}
}
