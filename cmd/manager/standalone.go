package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/taskroute/taskroute/internal/matching/server"
)

// standaloneHost is where the metrics and probe endpoints bind in --standalone mode when
// their flags are not given: a development service should not expose them to the network.
const standaloneHost = "127.0.0.1"

// runStandaloneIfRequested runs only the matching service (plus /metrics, /healthz and
// /readyz) when --standalone is set, and reports whether it did. main calls it before
// loading a kubeconfig.
func runStandaloneIfRequested(opts *options) bool {
	if !opts.matching.standalone {
		return false
	}
	if err := opts.security.validateStandalone(flag.CommandLine); err != nil {
		ctrl.Log.Error(err, "Refused to start the matching service")
		os.Exit(2)
	}
	opts.quota.standaloneDefaults(flag.CommandLine)
	if err := runStandalone(ctrl.SetupSignalHandler(), standaloneAddresses(opts, flag.CommandLine)); err != nil {
		ctrl.Log.Error(err, "Matching service failed")
		os.Exit(1)
	}
	return true
}

// standaloneAddresses returns opts with the metrics and probe addresses moved to the
// loopback interface unless their flags were given.
func standaloneAddresses(opts *options, fs *flag.FlagSet) *options {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o := *opts
	if !set["metrics-bind-address"] {
		o.metricsAddr = onLoopback(o.metricsAddr)
	}
	if !set["health-probe-bind-address"] {
		o.probeAddr = onLoopback(o.probeAddr)
	}
	return &o
}

// onLoopback puts an address without a host (":8080") on standaloneHost.
func onLoopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" {
		return addr
	}
	return net.JoinHostPort(standaloneHost, port)
}

func runStandalone(ctx context.Context, opts *options) error {
	log := ctrl.Log.WithName("matching")
	sec, err := opts.security.standaloneSecurity(ctrl.Log.WithName("matching-security"))
	if err != nil {
		return err
	}
	svc, err := server.Open(opts.matching.config(sec, &opts.quota))
	if err != nil {
		return err
	}
	endpoints := []struct {
		name, addr string
		handler    http.Handler
	}{
		{"metrics", opts.metricsAddr, promhttp.HandlerFor(ctrlmetrics.Registry, promhttp.HandlerOpts{})},
		{"probes", opts.probeAddr, probeHandler(svc)},
	}
	for _, e := range endpoints {
		closeFn, err := serveHTTP(log.WithValues("endpoint", e.name), e.addr, e.handler)
		if err != nil {
			svc.Stop()
			return fmt.Errorf("%s endpoint: %w", e.name, err)
		}
		defer closeFn()
	}
	return svc.Start(ctx)
}

// probeHandler serves /healthz (the process answers) and /readyz (the matching service
// is serving) with controller-runtime's handler, as the manager does.
func probeHandler(svc *server.Service) http.Handler {
	mux := http.NewServeMux()
	handle := func(path string, checks map[string]healthz.Checker) {
		h := http.StripPrefix(path, &healthz.Handler{Checks: checks})
		mux.Handle(path, h)
		mux.Handle(path+"/", h)
	}
	handle("/healthz", map[string]healthz.Checker{"ping": healthz.Ping})
	handle("/readyz", map[string]healthz.Checker{"matching": svc.ReadyCheck})
	return mux
}

// serveHTTP listens on addr ("" or "0" disables it), serves h in the background and
// returns the function that closes it. Listening first makes a taken port fail start-up.
func serveHTTP(log logr.Logger, addr string, h http.Handler) (closeFn func(), err error) {
	if addr == "" || addr == "0" {
		return func() {}, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "HTTP endpoint failed", "address", addr)
		}
	}()
	log.Info("Started HTTP endpoint", "address", lis.Addr().String())
	return func() { _ = srv.Close() }, nil
}
