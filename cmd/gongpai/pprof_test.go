package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestProfilerOnlyOnLoopback(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, addr := range []string{"0.0.0.0:6060", "10.0.0.1:6060", ":6060", "no-port", "example.com:6060"} {
		if stop, err := startProfiler(addr, log); err == nil {
			stop()
			t.Errorf("startProfiler(%q) accepted a non-loopback address", addr)
		} else if !strings.Contains(err.Error(), "pprof") {
			t.Errorf("startProfiler(%q): %v, want an error naming pprof", addr, err)
		}
	}
	stop, err := startProfiler("127.0.0.1:0", log)
	if err != nil {
		t.Fatalf("loopback refused: %v", err)
	}
	stop()
}
