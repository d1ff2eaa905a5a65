package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/gongpai/gongpai/config"
)

// startProfiler serves net/http/pprof on its own listener, never on the
// public one, and only on a loopback address: profiles reveal memory.
func startProfiler(addr string, log *slog.Logger) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &config.FieldError{Field: "pprof", Message: fmt.Sprintf("%q is not host:port", addr)}
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, &config.FieldError{Field: "pprof", Message: fmt.Sprintf("%q is not a loopback address; the profiler must not be reachable from the network", addr)}
	}
	log.Warn("Go profiler enabled: profiles reveal memory contents; do not leave it on", "addr", addr)
	return startSideListener(addr, "pprof", func(mux *http.ServeMux) {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	}, log)
}

// startSideListener serves a small mux on its own listener, apart from the
// public one, until stop is called.
func startSideListener(addr, what string, routes func(*http.ServeMux), log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", what, err)
	}
	mux := http.NewServeMux()
	routes(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info(what+" listener started", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
